//! Graph's lists and delta rounds: `$select` and `$top`, rounds computed when they start and
//! paged by opaque `$skiptoken`s, delta tokens with `$deltatoken`, `@removed` entries, and
//! big groups' members split across repeated objects.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{StatusCode, Uri};
use axum::response::Response;
use base64::Engine;
use serde_json::{json, Map, Value as Json};

use super::respond::{graph_error, json_response, serve_fault};
use super::*;

pub(super) fn top_of(value: Option<&str>) -> Result<usize, Response> {
    match value {
        None => Ok(100),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=999).contains(&n) => Ok(n),
            _ => Err(graph_error(
                StatusCode::BAD_REQUEST,
                "Request_UnsupportedQuery",
                &format!("Invalid page size specified: '{v}'. Must be between 1 and 999 inclusive."),
            )),
        },
    }
}

/// The `$select` list, checked against the known properties.
pub(super) fn selection(value: Option<&str>, kind: Kind) -> Result<Option<Vec<String>>, Response> {
    let Some(value) = value else { return Ok(None) };
    let (default, more): (&[&str], &[&str]) = if kind == Kind::Users {
        (&USER_DEFAULT, &USER_MORE)
    } else {
        (&GROUP_DEFAULT, &GROUP_MORE)
    };
    let known = default.iter().chain(more);
    let mut names = Vec::new();
    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        // Graph property names are case-insensitive in $select.
        let Some(k) = known.clone().find(|k| k.eq_ignore_ascii_case(name)) else {
            let ty = if kind == Kind::Users { "user" } else { "group" };
            return Err(graph_error(
                StatusCode::BAD_REQUEST,
                "Request_BadRequest",
                &format!("Could not find a property named '{name}' on type 'microsoft.graph.{ty}'."),
            ));
        };
        names.push((*k).to_owned());
    }
    Ok(Some(names))
}

/// The properties of an object as a response carries them: the selected ones (or the default
/// set), `id` always. `nulls`: selected but unset properties appear as null (lists and GET) or
/// are omitted (delta: "never set -> omitted").
pub(super) fn project(
    props: &Map<String, Json>,
    select: Option<&[String]>,
    default: &[&str],
    nulls: bool,
) -> Map<String, Json> {
    let mut out = Map::new();
    out.insert("id".into(), props.get("id").cloned().unwrap_or(Json::Null));
    let names: Vec<&str> = match select {
        Some(sel) => sel.iter().map(String::as_str).collect(),
        None => default.to_vec(),
    };
    for name in names {
        if name == "id" || name == "members" {
            continue;
        }
        match props.get(name) {
            Some(v) => {
                out.insert(name.to_owned(), v.clone());
            }
            None if nulls => {
                out.insert(name.to_owned(), Json::Null);
            }
            None => {}
        }
    }
    out
}

pub(super) fn new_token(s: &mut State, prefix: &str) -> String {
    s.next_id += 1;
    let raw = format!(
        "{prefix}-{}-{}",
        s.next_id,
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos()
    );
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

pub(super) fn start_round(
    s: &mut State,
    base: &str,
    path: &str,
    items: Vec<Json>,
    context: &str,
    page_size: usize,
    delta: Option<DeltaToken>,
) -> Response {
    let token = new_token(s, "round");
    s.rounds.insert(
        token.clone(),
        Round {
            items,
            context: format!("{base}/$metadata#{context}"),
            page_size,
            delta,
        },
    );
    serve_round_page(s, base, path, &token, 0)
}

pub(super) fn serve_page(s: &mut State, base: &str, path: &str, skiptoken: &str) -> Response {
    let Some((round, offset)) = skiptoken.rsplit_once('.') else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "Invalid skip token.",
        );
    };
    let Ok(offset) = offset.parse::<usize>() else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "Invalid skip token.",
        );
    };
    if !s.rounds.contains_key(round) {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "Invalid skip token.",
        );
    }
    let round = round.to_owned();
    serve_round_page(s, base, path, &round, offset)
}

pub(super) fn serve_round_page(
    s: &mut State,
    base: &str,
    path: &str,
    round_id: &str,
    offset: usize,
) -> Response {
    let round = s.rounds.get(round_id).unwrap();
    let end = (offset + round.page_size).min(round.items.len());
    let mut body = Map::new();
    body.insert("@odata.context".into(), json!(round.context));
    if end < round.items.len() {
        body.insert(
            "@odata.nextLink".into(),
            json!(format!("{base}{path}?$skiptoken={round_id}.{end}")),
        );
    } else if let Some(delta) = round.delta.clone() {
        let token = new_token(s, "delta");
        s.delta_tokens.insert(token.clone(), delta);
        body.insert(
            "@odata.deltaLink".into(),
            json!(format!("{base}{path}?$deltatoken={token}")),
        );
    }
    let round = s.rounds.get(round_id).unwrap();
    body.insert(
        "value".into(),
        Json::Array(round.items[offset.min(end)..end].to_vec()),
    );
    let response = json_response(StatusCode::OK, &Json::Object(body));
    if end >= round.items.len() {
        s.rounds.remove(round_id);
    }
    response
}

pub(super) fn serve_list(
    s: &mut State,
    base: &str,
    path: &str,
    kind: Kind,
    query: &[(String, String)],
) -> Response {
    let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    if param("$search").is_some() {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "Request_UnsupportedQuery",
            "Request with $search query parameter only works through MSGraph with a special \
             request header: 'ConsistencyLevel: eventual'",
        );
    }
    let top = match top_of(param("$top")) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let select = match selection(param("$select"), kind) {
        Ok(sel) => sel,
        Err(r) => return r,
    };
    let items: Vec<Json> = match kind {
        Kind::Users => s
            .users
            .values()
            .filter(|u| u.deleted.is_none())
            .map(|u| Json::Object(project(&u.props, select.as_deref(), &USER_DEFAULT, true)))
            .collect(),
        Kind::Groups => s
            .groups
            .values()
            .filter(|g| g.deleted.is_none())
            .map(|g| Json::Object(project(&g.props, select.as_deref(), &GROUP_DEFAULT, true)))
            .collect(),
    };
    let context = if kind == Kind::Users { "users" } else { "groups" };
    start_round(s, base, path, items, context, top, None)
}

pub(super) fn serve_delta(
    s: &mut State,
    base: &str,
    path: &str,
    kind: Kind,
    query: &[(String, String)],
) -> Response {
    for unsupported in ["$top", "$expand", "$orderby", "$filter", "$search"] {
        if query.iter().any(|(k, _)| k.eq_ignore_ascii_case(unsupported)) {
            return graph_error(
                StatusCode::BAD_REQUEST,
                "Request_UnsupportedQuery",
                &format!("The query parameter '{unsupported}' is not supported with delta."),
            );
        }
    }
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let context = if kind == Kind::Users { "users" } else { "groups" };
    let token = match param("$deltatoken") {
        None | Some("") => None,
        Some("latest") => {
            let since = s.seq;
            let select = match selection(param("$select"), kind) {
                Ok(sel) => sel,
                Err(r) => return r,
            };
            let t = DeltaToken {
                kind,
                since,
                select,
                expired: false,
            };
            return start_round(s, base, path, Vec::new(), context, 1, Some(t));
        }
        Some(token) => {
            if param("$select").is_some() {
                return graph_error(
                    StatusCode::BAD_REQUEST,
                    "Request_BadRequest",
                    "Query parameters are encoded in the delta token; do not repeat them.",
                );
            }
            if s.reset_pending {
                s.reset_pending = false;
                return serve_fault(s, &Fault::Reset, base, &Uri::from_static("/"), path);
            }
            match s.delta_tokens.get(token) {
                Some(t) if t.expired => {
                    return serve_fault(s, &Fault::Expired, base, &Uri::from_static("/"), path)
                }
                Some(t) if t.kind == kind => Some(t.clone()),
                _ => {
                    return graph_error(
                        StatusCode::BAD_REQUEST,
                        "Request_BadRequest",
                        "Invalid delta token.",
                    )
                }
            }
        }
    };
    let (since, select) = match token {
        Some(t) => (Some(t.since), t.select),
        None => match selection(param("$select"), kind) {
            Ok(sel) => (None, sel),
            Err(r) => return r,
        },
    };
    let now = s.seq;
    let page_size = s.settings.delta_page_size.max(1);
    let items = match kind {
        Kind::Users => user_delta_items(s, since, select.as_deref()),
        Kind::Groups => group_delta_items(s, since, select.as_deref()),
    };
    let next = DeltaToken {
        kind,
        since: now,
        select,
        expired: false,
    };
    start_round(s, base, path, items, context, page_size, Some(next))
}

pub(super) fn removed(id: &str, how: Deleted) -> Json {
    let reason = if how == Deleted::Soft {
        "changed"
    } else {
        "deleted"
    };
    json!({"id": id, "@removed": {"reason": reason}})
}

pub(super) fn user_delta_items(s: &State, since: Option<u64>, select: Option<&[String]>) -> Vec<Json> {
    let mut items = Vec::new();
    for (id, u) in &s.users {
        match (since, u.deleted) {
            (None, None) => items.push(Json::Object(project(&u.props, select, &USER_DEFAULT, false))),
            (None, Some(Deleted::Soft)) if s.settings.removed_in_initial => {
                items.push(removed(id, Deleted::Soft))
            }
            (None, Some(_)) => {}
            (Some(since), _) if u.changed <= since => {}
            (Some(_), None) => items.push(Json::Object(project(&u.props, select, &USER_DEFAULT, false))),
            (Some(_), Some(how)) => items.push(removed(id, how)),
        }
    }
    items
}

pub(super) fn group_delta_items(s: &State, since: Option<u64>, select: Option<&[String]>) -> Vec<Json> {
    let with_members = select.is_none_or(|sel| sel.iter().any(|n| n == "members"));
    let chunk = s.settings.member_chunk.max(1);
    // Membership changes since the token, per group: member -> (type, present now).
    let mut changes: BTreeMap<&str, BTreeMap<(&str, &str), bool>> = BTreeMap::new();
    if let Some(since) = since {
        for (seq, gid, ty, mid) in &s.member_log {
            if *seq > since {
                let present = s
                    .groups
                    .get(gid)
                    .is_some_and(|g| g.members.contains(&(ty.clone(), mid.clone())));
                changes
                    .entry(gid.as_str())
                    .or_default()
                    .insert((ty.as_str(), mid.as_str()), present);
            }
        }
    }
    let mut items = Vec::new();
    for (id, g) in &s.groups {
        let member_entries: Vec<Json> = match since {
            None => g
                .members
                .iter()
                .map(|(ty, mid)| json!({"@odata.type": ty, "id": mid}))
                .collect(),
            Some(_) => changes
                .get(id.as_str())
                .map(|m| {
                    m.iter()
                        .map(|((ty, mid), present)| {
                            if *present {
                                json!({"@odata.type": ty, "id": mid})
                            } else {
                                json!({"@odata.type": ty, "id": mid, "@removed": {"reason": "deleted"}})
                            }
                        })
                        .collect()
                })
                .unwrap_or_default(),
        };
        let touched = since.is_none_or(|since| g.changed > since) || !member_entries.is_empty();
        if !touched {
            continue;
        }
        if let Some(how) = g.deleted {
            if since.is_some() || (how == Deleted::Soft && s.settings.removed_in_initial) {
                items.push(removed(id, how));
            }
            continue;
        }
        let object = project(&g.props, select, &GROUP_DEFAULT, false);
        if !with_members || member_entries.is_empty() {
            items.push(Json::Object(object));
            continue;
        }
        // A big group is repeated, each copy with a slice of its members (Microsoft Learn, "Get
        // incremental changes for groups", "Paging through members in a large group").
        for slice in member_entries.chunks(chunk) {
            let mut copy = object.clone();
            copy.insert("members@delta".into(), Json::Array(slice.to_vec()));
            items.push(Json::Object(copy));
        }
    }
    // Interleave the repeated group objects with others, as Graph does not keep them together.
    if items.len() > 2 {
        let (a, b) = items.split_at(items.len() / 2);
        let mut mixed = Vec::with_capacity(items.len());
        let (mut a, mut b) = (a.iter(), b.iter());
        loop {
            match (a.next(), b.next()) {
                (None, None) => break,
                (x, y) => {
                    mixed.extend(x.cloned());
                    mixed.extend(y.cloned());
                }
            }
        }
        items = mixed;
    }
    items
}

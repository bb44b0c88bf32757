//! The one list and search implementation (RFC 7644 sections 3.4.2 and 3.4.3) for every
//! resource type: `GET /Users`, `POST /Users/.search`, the same for `/Groups`, and the root
//! `POST /.search`. The parameters (`filter`, `startIndex`, `count`, `attributes`,
//! `excludedAttributes`) come from the query string or a SearchRequest body; a resource type
//! says how to translate filters and load a page through [`Listed`].

use axum::body::Body;
use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::conditions::mentions;
use super::error::ScimError;
use super::extensions::Extensions;
use super::filter::{parse_filter, rfc7643_case_exact, Filter};
use super::http::{json_body, scim_response, BaseUrl};
use super::resource::{get_ci, project, LIST_SCHEMA};
use super::state::ScimState;
use crate::store::Conn;

/// What the list implementation needs from a resource type.
pub trait Listed: Send + 'static {
    /// A condition the store can answer for this type's rows.
    type Cond: Send + 'static;

    /// The multi-valued attribute loaded by a query of its own (a group's `members`), which a
    /// page leaves out unless it is asked for or the filter needs it.
    const EXPANDED: Option<&'static str> = None;

    /// The store's conditions for the parts of `filter` it can answer, and `true` when that
    /// is every part (then no evaluation in memory is needed).
    fn conditions(filter: &Filter, exts: &Extensions) -> (Vec<Self::Cond>, bool);

    /// The rows matching `conds`, from `offset`, at most `count`, as SCIM JSON under `base`
    /// (with [`Self::EXPANDED`] when `expand`), and how many matched in all.
    fn page(
        db: &mut Conn<'_>,
        conds: &[Self::Cond],
        window: (u64, u64),
        base: &str,
        expand: bool,
    ) -> Result<(u64, Vec<Value>), ScimError>;
}

/// What a list request asks for.
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    pub filter: Option<Filter>,
    /// 0-based offset (`startIndex` - 1).
    pub offset: u64,
    pub count: u64,
    pub attributes: Vec<String>,
    pub excluded: Vec<String>,
}

fn split_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

fn number(name: &str, v: &str) -> Result<i64, ScimError> {
    v.trim()
        .parse::<i64>()
        .map_err(|_| ScimError::bad("invalidValue", format!("{name} must be an integer, not {v:?}")))
}

impl ListParams {
    /// From query pairs (names compared case-insensitively).
    pub fn from_query(pairs: &[(String, String)], max_results: usize) -> Result<Self, ScimError> {
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        Self::build(
            get("filter").map(str::to_owned),
            get("startIndex").map(|v| number("startIndex", v)).transpose()?,
            get("count").map(|v| number("count", v)).transpose()?,
            get("attributes").map(split_list).unwrap_or_default(),
            get("excludedAttributes").map(split_list).unwrap_or_default(),
            max_results,
        )
    }

    /// From a `POST .search` body.
    pub fn from_body(body: &Value, max_results: usize) -> Result<Self, ScimError> {
        let obj = body
            .as_object()
            .ok_or_else(|| ScimError::bad("invalidSyntax", "the body must be a JSON object"))?;
        let int = |name: &str| -> Result<Option<i64>, ScimError> {
            match get_ci(obj, name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Number(n)) => n
                    .as_i64()
                    .map(Some)
                    .ok_or_else(|| ScimError::bad("invalidValue", format!("{name} must be an integer"))),
                Some(Value::String(s)) => number(name, s).map(Some),
                Some(other) => Err(ScimError::bad(
                    "invalidValue",
                    format!("{name} must be an integer, not {other}"),
                )),
            }
        };
        let list = |name: &str| -> Vec<String> {
            match get_ci(obj, name) {
                Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
                Some(Value::String(s)) => split_list(s),
                _ => Vec::new(),
            }
        };
        Self::build(
            get_ci(obj, "filter").and_then(Value::as_str).map(str::to_owned),
            int("startIndex")?,
            int("count")?,
            list("attributes"),
            list("excludedAttributes"),
            max_results,
        )
    }

    fn build(
        filter: Option<String>,
        start_index: Option<i64>,
        count: Option<i64>,
        attributes: Vec<String>,
        excluded: Vec<String>,
        max_results: usize,
    ) -> Result<Self, ScimError> {
        let filter = match filter.filter(|f| !f.trim().is_empty()) {
            Some(text) => Some(
                parse_filter(&text)
                    .map_err(|e| ScimError::bad("invalidFilter", format!("filter {text:?}: {e}")))?,
            ),
            None => None,
        };
        // RFC 7644 section 3.4.2.4: below 1 means 1; a negative count means 0.
        let offset = (start_index.unwrap_or(1).max(1) - 1) as u64;
        let count = count.map_or(max_results as u64, |c| (c.max(0) as u64).min(max_results as u64));
        Ok(ListParams {
            filter,
            offset,
            count,
            attributes,
            excluded,
        })
    }
}

/// A ListResponse.
pub fn list_response(total: u64, offset: u64, resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": offset + 1,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

/// Whether an answer returns `attr` under `attributes` / `excludedAttributes`.
pub fn returns(params: &ListParams, attr: &str) -> bool {
    let suffix = format!(":{}", attr.to_ascii_lowercase());
    let named = |list: &[String]| {
        list.iter()
            .any(|a| a.eq_ignore_ascii_case(attr) || a.to_ascii_lowercase().ends_with(&suffix))
    };
    if !params.attributes.is_empty() {
        return named(&params.attributes);
    }
    !named(&params.excluded)
}

/// One page of the resources of type `R` that match, projected, and the total that matched.
pub async fn find<R: Listed>(
    state: &ScimState,
    params: ListParams,
    base: &str,
) -> Result<(u64, Vec<Value>), ScimError> {
    let base = base.to_owned();
    let (conds, complete) = match &params.filter {
        Some(f) => R::conditions(f, state.extensions()),
        None => (Vec::new(), true),
    };
    let returned = R::EXPANDED.is_some_and(|a| returns(&params, a));
    let filter = params.filter.clone();
    let evaluated = R::EXPANDED.is_some_and(|a| !complete && filter.as_ref().is_some_and(|f| mentions(f, a)));
    let expand = returned || evaluated;
    let (offset, count) = (params.offset, params.count);
    let (total, resources) = state
        .read(move |db| {
            if complete {
                return R::page(db, &conds, (offset, count), &base, expand);
            }
            // The SQL narrows, the evaluator decides.
            let (_, all) = R::page(db, &conds, (0, u64::MAX >> 2), &base, expand)?;
            let matched: Vec<Value> = all
                .into_iter()
                .filter(|j| filter.as_ref().is_none_or(|f| f.matches(j, &rfc7643_case_exact)))
                .collect();
            let total = matched.len() as u64;
            let page = matched.into_iter().skip(offset as usize).take(count as usize);
            Ok((total, page.collect()))
        })
        .await?;
    let resources = resources
        .into_iter()
        .map(|mut j| {
            if let (Some(attr), false, Some(o)) = (R::EXPANDED, returned, j.as_object_mut()) {
                o.remove(attr);
            }
            project(&mut j, &params.attributes, &params.excluded);
            j
        })
        .collect();
    Ok((total, resources))
}

/// `GET /{type}` with the parameters in the query string.
pub async fn list<R: Listed>(
    state: ScimState,
    Query(query): Query<Vec<(String, String)>>,
    BaseUrl(base): BaseUrl,
) -> Result<Response, ScimError> {
    let params = ListParams::from_query(&query, state.max_results())?;
    answer::<R>(state, params, &base).await
}

/// `POST /{type}/.search` with a SearchRequest body.
pub async fn search<R: Listed>(
    state: ScimState,
    headers: HeaderMap,
    BaseUrl(base): BaseUrl,
    body: Body,
) -> Result<Response, ScimError> {
    let body = json_body(&state, &headers, body).await?;
    let params = ListParams::from_body(&body, state.max_results())?;
    answer::<R>(state, params, &base).await
}

async fn answer<R: Listed>(state: ScimState, params: ListParams, base: &str) -> Result<Response, ScimError> {
    let offset = params.offset;
    let (total, resources) = find::<R>(&state, params, base).await?;
    Ok(scim_response(
        StatusCode::OK,
        &list_response(total, offset, resources),
    ))
}

/// `POST /.search` (RFC 7644 section 3.4.3): the resources of `A`, then those of `B`, paged
/// as one list.
pub async fn search_all<A: Listed, B: Listed>(
    state: ScimState,
    headers: HeaderMap,
    BaseUrl(base): BaseUrl,
    body: Body,
) -> Result<Response, ScimError> {
    let body = json_body(&state, &headers, body).await?;
    let params = ListParams::from_body(&body, state.max_results())?;
    let (offset, count) = (params.offset, params.count);
    // Each type's first offset + count matches cover the combined page.
    let wide = ListParams {
        offset: 0,
        count: offset.saturating_add(count),
        ..params
    };
    let (a_total, a) = find::<A>(&state, wide.clone(), &base).await?;
    let (b_total, b) = find::<B>(&state, wide, &base).await?;
    let page: Vec<Value> = a
        .into_iter()
        .chain(b)
        .skip(offset as usize)
        .take(count as usize)
        .collect();
    Ok(scim_response(
        StatusCode::OK,
        &list_response(a_total + b_total, offset, page),
    ))
}

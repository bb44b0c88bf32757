//! The Directory API's resources as the connector reads them, and the requests that list them
//! (<https://developers.google.com/workspace/admin/directory/reference/rest/v1/users/list>,
//! `.../groups/list`, `.../members/list`, and the `User` resource).
//!
//! Requests ask only for the fields the mapping and the scoping filters read (`fields`, the
//! partial responses of the Directory API performance tips), and for custom schemas only
//! when one is read (`projection=custom` with `customFieldMask`).

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::{Map, Value as Json};

/// A user resource, kept as JSON so that every attribute (and `customSchemas`) can be mapped.
pub(crate) type Object = Map<String, Json>;

/// Most users per page that users.list allows.
pub(crate) const USERS_PAGE: u32 = 500;
/// Most groups (and members) per page that groups.list and members.list allow.
pub(crate) const GROUPS_PAGE: u32 = 200;

/// One page of a list: its items and the token of the next page.
pub(crate) trait Page: serde::de::DeserializeOwned {
    type Item;
    fn split(self) -> (Vec<Self::Item>, Option<String>);
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UsersPage {
    #[serde(default)]
    users: Vec<Object>,
    next_page_token: Option<String>,
}

impl Page for UsersPage {
    type Item = Object;
    fn split(self) -> (Vec<Object>, Option<String>) {
        (self.users, self.next_page_token)
    }
}

/// A group as groups.list returns it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct WireGroup {
    pub id: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub name: String,
}

impl WireGroup {
    /// The display name: the group's name, else its email.
    pub(crate) fn display_name(&self) -> String {
        if self.name.trim().is_empty() {
            self.email.clone()
        } else {
            self.name.clone()
        }
    }

    /// Whether a `groups` entry (an email or an id) names this group.
    pub(crate) fn is(&self, entry: &str) -> bool {
        self.id == entry || (!self.email.is_empty() && self.email.eq_ignore_ascii_case(entry))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GroupsPage {
    #[serde(default)]
    groups: Vec<WireGroup>,
    next_page_token: Option<String>,
}

impl Page for GroupsPage {
    type Item = WireGroup;
    fn split(self) -> (Vec<WireGroup>, Option<String>) {
        (self.groups, self.next_page_token)
    }
}

/// A member as members.list returns it: `type` is `USER`, `GROUP`, `CUSTOMER` or `EXTERNAL`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct WireMember {
    #[serde(default)]
    pub id: String,
    #[serde(rename = "type", default)]
    pub kind: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MembersPage {
    #[serde(default)]
    members: Vec<WireMember>,
    next_page_token: Option<String>,
}

impl Page for MembersPage {
    type Item = WireMember;
    fn split(self) -> (Vec<WireMember>, Option<String>) {
        (self.members, self.next_page_token)
    }
}

/// The user fields read whatever the mapping says: the id, the sign-in name, the status.
const ALWAYS: [&str; 4] = ["id", "primaryEmail", "suspended", "archived"];

/// What a users request asks for: the `fields` selection inside `users(...)` and the custom
/// schemas to include.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UserSelection {
    pub fields: String,
    pub schemas: Vec<String>,
}

impl UserSelection {
    /// The top-level fields (and custom schemas) that `attributes` (mapping and scoping
    /// attribute names such as `name.givenName`) read. Derived attributes read their source.
    pub(crate) fn new<'a>(attributes: impl IntoIterator<Item = &'a str>) -> UserSelection {
        let mut fields: BTreeSet<String> = ALWAYS.iter().map(|s| (*s).to_owned()).collect();
        let mut schemas = BTreeSet::new();
        for name in attributes {
            let mut parts = name.split('.');
            let head = parts.next().unwrap_or_default();
            match head {
                PRIMARY_ORGANIZATION => fields.insert("organizations".to_owned()),
                PREFERRED_LANGUAGE => fields.insert("languages".to_owned()),
                "customSchemas" => {
                    if let Some(schema) = parts.next().filter(|s| !s.is_empty()) {
                        schemas.insert(schema.to_owned());
                    }
                    fields.insert("customSchemas".to_owned())
                }
                _ if head.chars().all(|c| c.is_ascii_alphanumeric()) && !head.is_empty() => {
                    fields.insert(head.to_owned())
                }
                _ => false,
            };
        }
        UserSelection {
            fields: fields.into_iter().collect::<Vec<_>>().join(","),
            schemas: schemas.into_iter().collect(),
        }
    }

    /// The `projection` (and `customFieldMask`) query pairs.
    pub(crate) fn projection(&self) -> Vec<(&'static str, String)> {
        if self.schemas.is_empty() {
            vec![("projection", "basic".to_owned())]
        } else {
            vec![
                ("projection", "custom".to_owned()),
                ("customFieldMask", self.schemas.join(",")),
            ]
        }
    }
}

/// The derived attribute holding the primary `organizations` entry.
pub(crate) const PRIMARY_ORGANIZATION: &str = "primaryOrganization";
/// The derived attribute holding the preferred language's code.
pub(crate) const PREFERRED_LANGUAGE: &str = "preferredLanguage";

/// Adds the derived attributes to a user resource: `primaryOrganization` (the entry with
/// `primary: true`, else the first) and `preferredLanguage` (the `languageCode` or
/// `customLanguage` of the entry with `preference: "preferred"`, else of the first).
pub(crate) fn derive(user: &mut Object) {
    let pick = |list: Option<&Json>, primary: &dyn Fn(&Object) -> bool| -> Option<Object> {
        let entries: Vec<&Object> = list?.as_array()?.iter().filter_map(Json::as_object).collect();
        entries
            .iter()
            .find(|e| primary(e))
            .or_else(|| entries.first())
            .map(|e| (*e).clone())
    };
    let organization = pick(user.get("organizations"), &|e| {
        e.get("primary").and_then(Json::as_bool) == Some(true)
    });
    let language = pick(user.get("languages"), &|e| {
        e.get("preference").and_then(Json::as_str) == Some("preferred")
    })
    .and_then(|e| {
        e.get("languageCode")
            .or_else(|| e.get("customLanguage"))
            .and_then(Json::as_str)
            .map(str::to_owned)
    });
    if let Some(organization) = organization {
        user.insert(PRIMARY_ORGANIZATION.to_owned(), Json::Object(organization));
    }
    if let Some(language) = language {
        user.insert(PREFERRED_LANGUAGE.to_owned(), Json::String(language));
    }
}

/// Whether the account can sign in: neither `suspended` nor `archived`.
pub(crate) fn enabled(user: &Object) -> bool {
    let flag = |name| user.get(name).and_then(Json::as_bool).unwrap_or(false);
    !flag("suspended") && !flag("archived")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selection_names_top_level_fields_and_schemas() {
        let s = UserSelection::new([
            "name.givenName",
            "primaryOrganization.title",
            "preferredLanguage",
            "customSchemas.HR.costCenter",
            "orgUnitPath",
        ]);
        assert_eq!(
            s.fields,
            "archived,customSchemas,id,languages,name,orgUnitPath,organizations,primaryEmail,suspended"
        );
        assert_eq!(s.schemas, ["HR"]);
        assert_eq!(s.projection()[0], ("projection", "custom".to_owned()));
        assert_eq!(UserSelection::new(["x(y)"]).projection()[0].1, "basic");
    }

    #[test]
    fn derived_attributes_pick_the_primary_entries() {
        let mut user = json!({
            "organizations": [{"title": "Intern"}, {"title": "Engineer", "primary": true}],
            "languages": [{"languageCode": "fr", "preference": "not_preferred"},
                          {"languageCode": "en-GB", "preference": "preferred"}],
            "suspended": false, "archived": true,
        })
        .as_object()
        .unwrap()
        .clone();
        derive(&mut user);
        assert_eq!(user["primaryOrganization"]["title"], "Engineer");
        assert_eq!(user["preferredLanguage"], "en-GB");
        assert!(!enabled(&user));
        let mut user =
            json!({"organizations": [{"title": "Intern"}], "languages": [{"customLanguage": "Klingon"}]})
                .as_object()
                .unwrap()
                .clone();
        derive(&mut user);
        assert_eq!(user["primaryOrganization"]["title"], "Intern");
        assert_eq!(user["preferredLanguage"], "Klingon");
        assert!(enabled(&user));
    }
}

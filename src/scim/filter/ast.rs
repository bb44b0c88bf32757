//! The parsed shape of a SCIM filter (RFC 7644 section 3.4.2.2) and its canonical text form.

use std::fmt;

/// The URN prefix shared by the core schemas. A path qualified with one of them names a
/// top-level attribute, unlike an extension URN, which names an attribute inside the
/// extension's own object.
pub(crate) const CORE_SCHEMA_PREFIX: &str = "urn:ietf:params:scim:schemas:core:";

/// An attribute reference: `[URI ":"] ATTRNAME ["." subAttr]`.
///
/// Names keep the client's spelling so that errors and the canonical form echo what was
/// sent, but attribute names are case-insensitive (RFC 7643 section 2.1), so equality and
/// every lookup compare them case-insensitively.
#[derive(Debug, Clone)]
pub struct AttrPath {
    /// The schema URN, present when the client qualified the attribute, e.g.
    /// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`. An extension URN selects
    /// the extension's object in the resource; a core URN selects the top level.
    pub uri: Option<String>,
    /// The attribute name, e.g. `userName` or `emails`.
    pub attr: String,
    /// The sub-attribute of a complex attribute, e.g. `givenName` in `name.givenName`.
    pub sub_attr: Option<String>,
}

impl AttrPath {
    /// A path to a plain top-level attribute, for callers that build filters in code.
    pub fn new(attr: impl Into<String>) -> Self {
        AttrPath {
            uri: None,
            attr: attr.into(),
            sub_attr: None,
        }
    }

    /// The same path with a sub-attribute, e.g. `AttrPath::new("name").with_sub_attr("givenName")`.
    pub fn with_sub_attr(mut self, sub_attr: impl Into<String>) -> Self {
        self.sub_attr = Some(sub_attr.into());
        self
    }

    /// The same path qualified by a schema URN.
    pub fn with_uri(mut self, uri: impl Into<String>) -> Self {
        self.uri = Some(uri.into());
        self
    }

    /// Whether the URN, if any, is a core schema, so the attribute lives at the top level.
    pub fn is_core(&self) -> bool {
        self.uri.as_deref().is_none_or(is_core_schema_uri)
    }

    /// Whether this path names `attr` (and `sub_attr`), ignoring case and ignoring a core
    /// schema URN. Handy for schema callbacks such as "is `emails.value` case-exact?".
    pub fn is(&self, attr: &str, sub_attr: Option<&str>) -> bool {
        self.is_core()
            && self.attr.eq_ignore_ascii_case(attr)
            && match (&self.sub_attr, sub_attr) {
                (None, None) => true,
                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                _ => false,
            }
    }
}

pub(crate) fn is_core_schema_uri(uri: &str) -> bool {
    uri.len() >= CORE_SCHEMA_PREFIX.len()
        && uri.is_char_boundary(CORE_SCHEMA_PREFIX.len())
        && uri[..CORE_SCHEMA_PREFIX.len()].eq_ignore_ascii_case(CORE_SCHEMA_PREFIX)
}

fn eq_opt_ci(a: &Option<String>, b: &Option<String>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        _ => false,
    }
}

impl PartialEq for AttrPath {
    fn eq(&self, other: &Self) -> bool {
        eq_opt_ci(&self.uri, &other.uri)
            && self.attr.eq_ignore_ascii_case(&other.attr)
            && eq_opt_ci(&self.sub_attr, &other.sub_attr)
    }
}

impl Eq for AttrPath {}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(uri) = &self.uri {
            write!(f, "{uri}:")?;
        }
        f.write_str(&self.attr)?;
        if let Some(sub) = &self.sub_attr {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// The comparison operators of RFC 7644 table 3. `pr` takes no value, so it is
/// [`Filter::Present`] rather than an operator here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    /// Recognises an operator keyword; keywords are case-insensitive (`Eq` is `eq`).
    pub fn from_keyword(word: &str) -> Option<Self> {
        const ALL: [(&str, CompareOp); 9] = [
            ("eq", CompareOp::Eq),
            ("ne", CompareOp::Ne),
            ("co", CompareOp::Co),
            ("sw", CompareOp::Sw),
            ("ew", CompareOp::Ew),
            ("gt", CompareOp::Gt),
            ("ge", CompareOp::Ge),
            ("lt", CompareOp::Lt),
            ("le", CompareOp::Le),
        ];
        ALL.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(word))
            .map(|&(_, op)| op)
    }

    /// The lowercase keyword, as the canonical form writes it.
    pub fn keyword(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    /// `gt ge lt le`: these order values, so they make no sense on booleans or null.
    pub fn is_ordering(self) -> bool {
        matches!(
            self,
            CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
        )
    }

    /// `co sw ew`: these look inside strings, so they need a string value.
    pub fn is_substring(self) -> bool {
        matches!(self, CompareOp::Co | CompareOp::Sw | CompareOp::Ew)
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

/// A comparison value: the JSON literals the ABNF allows (`compValue`).
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    /// A JSON string, escapes already decoded. Dates arrive as strings too.
    Str(String),
    /// A JSON number, kept as `serde_json::Number` so integers stay exact.
    Number(serde_json::Number),
    Bool(bool),
    Null,
}

impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Rendering through serde_json gives a valid JSON string with escapes, which the
            // parser reads back to the same value.
            CompValue::Str(s) => write!(f, "{}", serde_json::Value::String(s.clone())),
            CompValue::Number(n) => write!(f, "{n}"),
            CompValue::Bool(b) => write!(f, "{b}"),
            CompValue::Null => f.write_str("null"),
        }
    }
}

/// A parsed filter.
///
/// The Entra form `emails[type eq "work"].value eq "x"` has no variant of its own: it is a
/// [`Filter::ValuePath`] whose inner filter is `type eq "work" and value eq "x"`. Both spellings
/// mean the same thing, "some element of `emails` has type work and value x", so one tree
/// serves both and the evaluator and a SQL translator have one case to handle.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `path op value`, e.g. `userName eq "bjensen"`.
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: CompValue,
    },
    /// `path pr`: the attribute has a non-empty value.
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    /// `not (filter)`.
    Not(Box<Filter>),
    /// `attr[filter]`: some element of the multi-valued (or complex) attribute `attr`
    /// satisfies `filter`, whose paths are relative to that element.
    ValuePath {
        attr: AttrPath,
        filter: Box<Filter>,
    },
}

/// The canonical form: lowercase keywords, single spaces, JSON-escaped strings, and
/// parentheses around every nested `and`/`or`, so the text shows the tree that precedence
/// produced (`a or b and c` renders as `a or (b and c)`) and parses back to the same tree.
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Compare { path, op, value } => write!(f, "{path} {op} {value}"),
            Filter::Present(path) => write!(f, "{path} pr"),
            Filter::And(l, r) => {
                write_operand(f, l)?;
                f.write_str(" and ")?;
                write_operand(f, r)
            }
            Filter::Or(l, r) => {
                write_operand(f, l)?;
                f.write_str(" or ")?;
                write_operand(f, r)
            }
            Filter::Not(inner) => write!(f, "not ({inner})"),
            Filter::ValuePath { attr, filter } => write!(f, "{attr}[{filter}]"),
        }
    }
}

fn write_operand(f: &mut fmt::Formatter<'_>, operand: &Filter) -> fmt::Result {
    match operand {
        Filter::And(..) | Filter::Or(..) => write!(f, "({operand})"),
        _ => write!(f, "{operand}"),
    }
}

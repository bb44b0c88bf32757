//! Okta's filter and search expressions, limited to what the org accepts: the grammar
//! ("Core Okta API", "Filter") and, per endpoint, the attributes and operators the Users API
//! ("List all users": `filter`, `search`) and the Groups API ("List all groups": `filter`)
//! allow. Anything else is a 400 `E0000031` for the caller.

use serde_json::Value as Json;

use super::parse_time;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    UserFilter,
    UserSearch,
    GroupFilter,
}

#[derive(Debug)]
pub(super) enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Cmp { attr: String, op: String, value: String },
}

const DATE_ATTRS: [&str; 6] = [
    "lastUpdated",
    "created",
    "activated",
    "statusChanged",
    "lastMembershipUpdated",
    "passwordChanged",
];

impl Expr {
    pub(super) fn eval(&self, object: &Json) -> bool {
        match self {
            Expr::Or(a, b) => a.eval(object) || b.eval(object),
            Expr::And(a, b) => a.eval(object) && b.eval(object),
            Expr::Cmp { attr, op, value } => {
                let mut current = object;
                for part in attr.split('.') {
                    match current.get(part) {
                        Some(v) => current = v,
                        None => return false,
                    }
                }
                let Some(actual) = current.as_str() else {
                    return false;
                };
                if DATE_ATTRS.contains(&attr.as_str()) {
                    let (Some(a), Some(v)) = (parse_time(actual), parse_time(value)) else {
                        return false;
                    };
                    return match op.as_str() {
                        "eq" => a == v,
                        "gt" => a > v,
                        "ge" => a >= v,
                        "lt" => a < v,
                        "le" => a <= v,
                        _ => false,
                    };
                }
                match op.as_str() {
                    "eq" => actual == value,
                    "sw" => actual.starts_with(value.as_str()),
                    "co" => actual.contains(value.as_str()),
                    "lt" => actual < value.as_str(),
                    "gt" => actual > value.as_str(),
                    _ => false,
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Open,
    Close,
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            ' ' => {
                chars.next();
            }
            '(' => {
                chars.next();
                out.push(Token::Open);
            }
            ')' => {
                chars.next();
                out.push(Token::Close);
            }
            '"' => {
                chars.next();
                let mut value = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => value.push(chars.next().ok_or("bad escape")?),
                        Some(c) => value.push(c),
                        None => return Err("unterminated string".into()),
                    }
                }
                out.push(Token::Text(value));
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c == ' ' || c == '(' || c == ')' || c == '"' {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                out.push(Token::Word(word));
            }
        }
    }
    Ok(out)
}

pub(super) fn parse(text: &str, kind: Kind) -> Result<Expr, String> {
    let tokens = tokens(text)?;
    let mut at = 0;
    let e = parse_or(&tokens, &mut at, kind)?;
    if at != tokens.len() {
        return Err("trailing tokens".into());
    }
    Ok(e)
}

fn keyword(tokens: &[Token], at: usize, word: &str) -> bool {
    matches!(tokens.get(at), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
}

fn parse_or(tokens: &[Token], at: &mut usize, kind: Kind) -> Result<Expr, String> {
    let mut left = parse_and(tokens, at, kind)?;
    while keyword(tokens, *at, "or") {
        *at += 1;
        left = Expr::Or(Box::new(left), Box::new(parse_and(tokens, at, kind)?));
    }
    Ok(left)
}

fn parse_and(tokens: &[Token], at: &mut usize, kind: Kind) -> Result<Expr, String> {
    let mut left = parse_term(tokens, at, kind)?;
    while keyword(tokens, *at, "and") {
        *at += 1;
        left = Expr::And(Box::new(left), Box::new(parse_term(tokens, at, kind)?));
    }
    Ok(left)
}

fn parse_term(tokens: &[Token], at: &mut usize, kind: Kind) -> Result<Expr, String> {
    if tokens.get(*at) == Some(&Token::Open) {
        *at += 1;
        let e = parse_or(tokens, at, kind)?;
        if tokens.get(*at) != Some(&Token::Close) {
            return Err("missing )".into());
        }
        *at += 1;
        return Ok(e);
    }
    let (Some(Token::Word(attr)), Some(Token::Word(op)), Some(Token::Text(value))) =
        (tokens.get(*at), tokens.get(*at + 1), tokens.get(*at + 2))
    else {
        return Err("expected: attribute operator \"value\"".into());
    };
    *at += 3;
    let op = op.to_ascii_lowercase();
    let is_date = DATE_ATTRS.contains(&attr.as_str());
    if is_date && parse_time(value).is_none() {
        return Err(format!("{value:?} is not a date"));
    }
    let date_ops = ["eq", "gt", "ge", "lt", "le"];
    let allowed = match kind {
        // "List all users", `filter`: only these properties; only eq, except lastUpdated.
        Kind::UserFilter => match attr.as_str() {
            "lastUpdated" => date_ops.contains(&op.as_str()),
            "status" | "id" | "profile.login" | "profile.email" | "profile.firstName"
            | "profile.lastName" => op == "eq",
            _ => false,
        },
        Kind::UserSearch => {
            let known = attr.starts_with("profile.")
                || ["id", "status", "type.id"].contains(&attr.as_str())
                || is_date;
            let op_ok = match op.as_str() {
                "eq" | "sw" => true,
                "co" => [
                    "profile.firstName",
                    "profile.lastName",
                    "profile.email",
                    "profile.login",
                ]
                .contains(&attr.as_str()),
                "gt" | "ge" | "lt" | "le" => is_date || attr == "status",
                _ => false,
            };
            known && op_ok
        }
        // "List all groups", `filter`: id, type, lastUpdated, lastMembershipUpdated.
        Kind::GroupFilter => match attr.as_str() {
            "lastUpdated" | "lastMembershipUpdated" => date_ops.contains(&op.as_str()),
            "id" | "type" => op == "eq",
            _ => false,
        },
    };
    if !allowed {
        return Err(format!("{attr} {op} is not supported"));
    }
    Ok(Expr::Cmp {
        attr: attr.clone(),
        op,
        value: value.clone(),
    })
}

//! Recursive-descent parser for the filter grammar (RFC 7644 section 3.4.2.2, figure 1) and
//! the PATCH path grammar (section 3.5.2, `PATH = attrPath / valuePath [subAttr]`).
//!
//! The ABNF's `logExp = FILTER SP ("and" / "or") SP FILTER` is ambiguous; the precedence
//! the RFC states in prose (`not` over `and` over `or`, operators left-associative) is
//! encoded as the usual layering:
//!
//! ```text
//! filter  = andExp *("or" andExp)
//! andExp  = unary *("and" unary)
//! unary   = "not" "(" filter ")" / "(" filter ")" / attrExp
//! attrExp = attrPath "[" valFilter "]" ["." ATTRNAME (op value / "pr")]
//!         / attrPath "pr" / attrPath op value
//! ```
//!
//! Keywords and literals are case-insensitive, so `Eq`, `AND` and `True` are accepted.

use super::ast::{AttrPath, CompValue, CompareOp, Filter};
use super::error::FilterError;
use super::lexer::{tokenize, Token, TokenKind};
use super::path::PatchPath;

/// How deep parentheses, `not` and value filters may nest. Real filters nest once or
/// twice; the bound keeps the recursion in the parser, evaluator and `Drop` off the end of
/// the stack.
pub const MAX_NESTING: usize = 32;

/// How many attribute expressions one filter may hold. Every `and`/`or` deepens the tree
/// by one, so this bounds the tree's depth as well as its size: at 256 the recursive
/// evaluator, `Display` and `Drop` stay well inside a 256 KiB stack even in a debug build.
/// Entra and Okta send one or two.
pub const MAX_EXPRESSIONS: usize = 256;

/// Parses a `filter` query parameter (already percent-decoded).
pub fn parse_filter(input: &str) -> Result<Filter, FilterError> {
    let mut parser = Parser::new(input)?.ok_or(FilterError::Empty { what: "filter" })?;
    let filter = parser.parse_or(Scope::Resource)?;
    parser.expect_closer(Closer::End)?;
    Ok(filter)
}

/// Parses a PATCH operation's `path`.
pub fn parse_patch_path(input: &str) -> Result<PatchPath, FilterError> {
    let mut parser = Parser::new(input)?.ok_or(FilterError::Empty { what: "path" })?;
    let (word, position) = match parser.bump() {
        Some(Token {
            kind: TokenKind::Word(word),
            position,
        }) => (word, position),
        other => return Err(parser.unexpected(other, "an attribute path".to_string())),
    };
    let attr = parse_attr_path(&word, position)?;
    let mut path = PatchPath {
        attr,
        value_filter: None,
        sub_attr: None,
    };
    if parser.peek_is(&TokenKind::LBracket) {
        let (filter, sub_attr) = parser.parse_value_filter(&path.attr)?;
        path.value_filter = Some(filter);
        path.sub_attr = sub_attr;
    }
    match parser.bump() {
        None => Ok(path),
        Some(token) => {
            let expected = if path.value_filter.is_some() {
                "\".\" and a sub-attribute, or the end of the path"
            } else {
                "\"[\" or the end of the path"
            };
            Err(parser.unexpected(Some(token), expected.to_string()))
        }
    }
}

/// Where attribute paths are resolved: against the resource, or inside a value filter's
/// brackets against one element of a multi-valued attribute, where the RFC allows no
/// further brackets.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    Resource,
    Element,
}

/// What must follow a complete `filter` production.
#[derive(Clone, Copy)]
enum Closer {
    End,
    /// A `)` for the `(` at this position.
    Paren(usize),
    /// A `]` for the `[` at this position.
    Bracket(usize),
}

struct Parser {
    tokens: Vec<Token>,
    next: usize,
    /// The input length in characters: the position reported for "end of input".
    end: usize,
    nesting: usize,
    expressions: usize,
}

impl Parser {
    /// `None` when the input holds only whitespace.
    fn new(input: &str) -> Result<Option<Self>, FilterError> {
        let tokens = tokenize(input)?;
        if tokens.is_empty() {
            return Ok(None);
        }
        let end = input.chars().count();
        Ok(Some(Parser {
            tokens,
            next: 0,
            end,
            nesting: 0,
            expressions: 0,
        }))
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next)
    }

    fn peek_at(&self, ahead: usize) -> Option<&Token> {
        self.tokens.get(self.next + ahead)
    }

    fn peek_is(&self, kind: &TokenKind) -> bool {
        self.peek().is_some_and(|t| &t.kind == kind)
    }

    fn peek_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Token { kind: TokenKind::Word(w), .. }) if w.eq_ignore_ascii_case(keyword))
    }

    fn bump(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.next).cloned();
        if token.is_some() {
            self.next += 1;
        }
        token
    }

    /// The word of the token before the next one, for "after X" in messages.
    fn previous_text(&self) -> Option<String> {
        let token = self.tokens.get(self.next.checked_sub(1)?)?;
        Some(match &token.kind {
            TokenKind::Word(w) => w.clone(),
            TokenKind::Str(s) => serde_json::Value::String(s.clone()).to_string(),
            TokenKind::Number(n) => n.to_string(),
            TokenKind::LParen => "(".to_string(),
            TokenKind::RParen => ")".to_string(),
            TokenKind::LBracket => "[".to_string(),
            TokenKind::RBracket => "]".to_string(),
            TokenKind::Dot => ".".to_string(),
        })
    }

    /// "expected {expected}, found {token}", positioned at the token or at the end.
    fn unexpected(&self, found: Option<Token>, expected: String) -> FilterError {
        match found {
            Some(token) => FilterError::Expected {
                expected,
                found: token.kind.describe(),
                position: token.position,
            },
            None => FilterError::Expected {
                expected,
                found: "end of input".to_string(),
                position: self.end,
            },
        }
    }

    fn enter(&mut self, position: usize) -> Result<(), FilterError> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(FilterError::TooDeep {
                limit: MAX_NESTING,
                position,
            });
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.nesting = self.nesting.saturating_sub(1);
    }

    fn parse_or(&mut self, scope: Scope) -> Result<Filter, FilterError> {
        let mut left = self.parse_and(scope)?;
        while self.peek_keyword("or") {
            self.bump();
            let right = self.parse_and(scope)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_and(&mut self, scope: Scope) -> Result<Filter, FilterError> {
        let mut left = self.parse_unary(scope)?;
        while self.peek_keyword("and") {
            self.bump();
            let right = self.parse_unary(scope)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_unary(&mut self, scope: Scope) -> Result<Filter, FilterError> {
        let Some(token) = self.peek().cloned() else {
            return Err(self.unexpected(None, self.expected_term()));
        };
        match &token.kind {
            TokenKind::LParen => {
                self.bump();
                self.enter(token.position)?;
                let inner = self.parse_or(scope)?;
                self.expect_closer(Closer::Paren(token.position))?;
                self.leave();
                Ok(inner)
            }
            TokenKind::Word(word) if self.is_keyword_here(word, "not") => {
                self.bump();
                match self.bump() {
                    Some(Token {
                        kind: TokenKind::LParen,
                        position,
                    }) => {
                        self.enter(position)?;
                        let inner = self.parse_or(scope)?;
                        self.expect_closer(Closer::Paren(position))?;
                        self.leave();
                        Ok(Filter::Not(Box::new(inner)))
                    }
                    other => Err(self.unexpected(other, "\"(\" after \"not\"".to_string())),
                }
            }
            TokenKind::Word(word)
                if self.is_keyword_here(word, "and") || self.is_keyword_here(word, "or") =>
            {
                Err(self.unexpected(Some(token.clone()), self.expected_term()))
            }
            TokenKind::Word(_) => self.parse_attr_exp(scope),
            _ => Err(self.unexpected(Some(token.clone()), self.expected_term())),
        }
    }

    /// What may start an expression, for messages: `an attribute name, "(" or "not (" after "and"`.
    fn expected_term(&self) -> String {
        let after = self
            .previous_text()
            .map(|p| format!(" after \"{p}\""))
            .unwrap_or_default();
        format!("an attribute name, \"(\" or \"not (\"{after}")
    }

    /// Whether the next word is `keyword` used as a keyword rather than as the name of an
    /// attribute (`not eq "x"` compares an attribute called `not`; `not (...)` negates).
    fn is_keyword_here(&self, word: &str, keyword: &str) -> bool {
        if !word.eq_ignore_ascii_case(keyword) {
            return false;
        }
        match self.peek_at(1).map(|t| &t.kind) {
            Some(TokenKind::LBracket) => false,
            Some(TokenKind::Word(w)) => !is_operator_keyword(w),
            _ => true,
        }
    }

    fn parse_attr_exp(&mut self, scope: Scope) -> Result<Filter, FilterError> {
        let (word, position) = match self.bump() {
            Some(Token {
                kind: TokenKind::Word(word),
                position,
            }) => (word, position),
            other => return Err(self.unexpected(other, "an attribute name".to_string())),
        };
        self.expressions += 1;
        if self.expressions > MAX_EXPRESSIONS {
            return Err(FilterError::TooManyExpressions {
                limit: MAX_EXPRESSIONS,
                position,
            });
        }
        let path = parse_attr_path(&word, position)?;
        if !self.peek_is(&TokenKind::LBracket) {
            return self.parse_comparison(path);
        }
        if scope == Scope::Element {
            return Err(FilterError::NestedValuePath {
                position: self.peek().map_or(self.end, |t| t.position),
            });
        }
        let (inner, sub_attr) = self.parse_value_filter(&path)?;
        let filter = match sub_attr {
            None => inner,
            // `emails[type eq "work"].value eq "x"`: an element that matches the brackets and
            // whose `value` matches the comparison, i.e. `emails[type eq "work" and value eq "x"]`.
            Some(sub) => {
                let comparison = self.parse_comparison(AttrPath::new(sub))?;
                Filter::And(Box::new(inner), Box::new(comparison))
            }
        };
        Ok(Filter::ValuePath {
            attr: path,
            filter: Box::new(filter),
        })
    }

    /// Parses `"[" valFilter "]" ["." subAttr]`, the next token being the `[`.
    fn parse_value_filter(&mut self, attr: &AttrPath) -> Result<(Filter, Option<String>), FilterError> {
        let open = self.bump().map_or(self.end, |t| t.position);
        self.enter(open)?;
        let inner = self.parse_or(Scope::Element)?;
        self.expect_closer(Closer::Bracket(open))?;
        self.leave();
        if !self.peek_is(&TokenKind::Dot) {
            return Ok((inner, None));
        }
        self.bump();
        let (sub, position) = match self.bump() {
            Some(Token {
                kind: TokenKind::Word(word),
                position,
            }) => (word, position),
            other => return Err(self.unexpected(other, "a sub-attribute name after \"].\"".to_string())),
        };
        if attr.sub_attr.is_some() {
            return Err(FilterError::InvalidAttrPath {
                path: format!("{attr}[...].{sub}"),
                reason: "a value path cannot have a sub-attribute both before and after the brackets",
                position,
            });
        }
        validate_name(&sub, &sub, position)?;
        Ok((inner, Some(sub)))
    }

    /// Parses what follows an attribute path: `pr`, or an operator and a value.
    fn parse_comparison(&mut self, path: AttrPath) -> Result<Filter, FilterError> {
        let expected_op = format!(
            "an operator after \"{}\"",
            self.previous_text().unwrap_or_default()
        );
        let op_token = self.bump();
        let (op, op_position) = match &op_token {
            Some(Token {
                kind: TokenKind::Word(word),
                position,
            }) => {
                if word.eq_ignore_ascii_case("pr") {
                    return Ok(Filter::Present(path));
                }
                match CompareOp::from_keyword(word) {
                    Some(op) => (op, *position),
                    None if ["and", "or", "not"].iter().any(|k| k.eq_ignore_ascii_case(word)) => {
                        return Err(self.unexpected(op_token, expected_op));
                    }
                    None => {
                        return Err(FilterError::UnknownOperator {
                            found: word.clone(),
                            position: *position,
                        })
                    }
                }
            }
            _ => return Err(self.unexpected(op_token, expected_op)),
        };
        let value_token = self.bump();
        let Some(value) = value_token.as_ref().and_then(|t| literal(&t.kind)) else {
            let expected =
                format!("a value after \"{op}\" (a string in double quotes, a number, true, false or null)");
            return Err(self.unexpected(value_token, expected));
        };
        check_operand(op, &value, op_position)?;
        Ok(Filter::Compare { path, op, value })
    }

    /// Consumes what must follow a complete filter, or explains what was found instead.
    fn expect_closer(&mut self, closer: Closer) -> Result<(), FilterError> {
        let token = self.bump();
        let expected = match (closer, token.as_ref().map(|t| &t.kind)) {
            (Closer::End, None)
            | (Closer::Paren(_), Some(TokenKind::RParen))
            | (Closer::Bracket(_), Some(TokenKind::RBracket)) => return Ok(()),
            (Closer::End, Some(TokenKind::RParen)) => {
                return Err(FilterError::Expected {
                    expected: "\"and\", \"or\" or the end of the filter".to_string(),
                    found: "\")\" without a matching \"(\"".to_string(),
                    position: token.map_or(self.end, |t| t.position),
                });
            }
            (Closer::End, Some(_)) => "\"and\", \"or\" or the end of the filter".to_string(),
            (Closer::Paren(open), _) => {
                format!("\"and\", \"or\" or \")\" (for the \"(\" at position {open})")
            }
            (Closer::Bracket(open), _) => {
                format!("\"and\", \"or\" or \"]\" (for the \"[\" at position {open})")
            }
        };
        Err(self.unexpected(token, expected))
    }
}

/// A comparison value: a JSON literal, its keywords in any case.
fn literal(kind: &TokenKind) -> Option<CompValue> {
    match kind {
        TokenKind::Str(s) => Some(CompValue::Str(s.clone())),
        TokenKind::Number(n) => Some(CompValue::Number(n.clone())),
        TokenKind::Word(w) if w.eq_ignore_ascii_case("true") => Some(CompValue::Bool(true)),
        TokenKind::Word(w) if w.eq_ignore_ascii_case("false") => Some(CompValue::Bool(false)),
        TokenKind::Word(w) if w.eq_ignore_ascii_case("null") => Some(CompValue::Null),
        _ => None,
    }
}

fn is_operator_keyword(word: &str) -> bool {
    CompareOp::from_keyword(word).is_some() || word.eq_ignore_ascii_case("pr")
}

/// Rejects comparisons no attribute could satisfy, so the client hears about its mistake
/// instead of silently getting an empty list. RFC 7644 table 3 makes ordering a boolean an
/// `invalidFilter` error; substring operators only make sense on strings.
fn check_operand(op: CompareOp, value: &CompValue, position: usize) -> Result<(), FilterError> {
    let reason = match value {
        CompValue::Bool(_) | CompValue::Null if op.is_ordering() => {
            "gt, ge, lt and le order strings, numbers and dates, not booleans or null"
        }
        CompValue::Str(_) => return Ok(()),
        _ if op.is_substring() => "co, sw and ew match inside strings, so the value must be a string",
        _ => return Ok(()),
    };
    Err(FilterError::InvalidComparison {
        op: op.keyword(),
        value: value.to_string(),
        reason,
        position,
    })
}

/// Splits a word such as `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`
/// into URI, attribute and sub-attribute. The URI is everything before the last colon: schema
/// URNs contain dots (`2.0`) but attribute names contain no colons.
pub(crate) fn parse_attr_path(word: &str, position: usize) -> Result<AttrPath, FilterError> {
    let invalid = |reason| FilterError::InvalidAttrPath {
        path: word.to_string(),
        reason,
        position,
    };
    let (uri, rest) = match word.rfind(':') {
        Some(colon) => (Some(&word[..colon]), &word[colon + 1..]),
        None => (None, word),
    };
    if rest.is_empty() {
        return Err(invalid("an attribute name must follow the schema URI"));
    }
    let mut parts = rest.split('.');
    let attr = parts.next().unwrap_or_default();
    let sub_attr = parts.next();
    if parts.next().is_some() {
        return Err(invalid("only one sub-attribute may follow an attribute name"));
    }
    validate_name(attr, word, position)?;
    if let Some(sub) = sub_attr {
        validate_name(sub, word, position)?;
    }
    Ok(AttrPath {
        uri: uri.map(str::to_string),
        attr: attr.to_string(),
        sub_attr: sub_attr.map(str::to_string),
    })
}

/// `ATTRNAME = ALPHA *(nameChar)`, plus the `$ref` spelling that RFC 7643 uses for reference
/// sub-attributes (`members[$ref eq "..."]`).
fn validate_name(name: &str, word: &str, position: usize) -> Result<(), FilterError> {
    let invalid = |reason| FilterError::InvalidAttrPath {
        path: word.to_string(),
        reason,
        position,
    };
    let body = name.strip_prefix('$').unwrap_or(name);
    let mut chars = body.chars();
    match chars.next() {
        None => Err(invalid("an attribute name is empty")),
        Some(c) if !c.is_ascii_alphabetic() => Err(invalid("an attribute name must start with a letter")),
        Some(_) if chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') => Ok(()),
        Some(_) => Err(invalid(
            "an attribute name may contain only letters, digits, '-' and '_'",
        )),
    }
}

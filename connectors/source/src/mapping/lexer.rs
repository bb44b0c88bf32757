//! Splits an expression into tokens, each carrying the 1-based character position that parse
//! errors report.

use super::ParseError;

/// A comparison operator as written in an `IIF` condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CmpOp {
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "<>",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    /// `[name]`, brackets removed.
    Attribute(String),
    /// `"text"`, quotes removed and escapes resolved.
    Str(String),
    /// A whole number such as `3` or `-10`, kept as written.
    Number(String),
    /// A bare word; only valid as a function name.
    Ident(String),
    LParen,
    RParen,
    Comma,
    Cmp(CmpOp),
    End,
}

impl Tok {
    /// How the token is named in "expected X, found Y" messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Attribute(name) => format!("attribute [{name}]"),
            Tok::Str(_) => "a string constant".to_owned(),
            Tok::Number(n) => format!("number {n}"),
            Tok::Ident(word) => format!("'{word}'"),
            Tok::LParen => "'('".to_owned(),
            Tok::RParen => "')'".to_owned(),
            Tok::Comma => "','".to_owned(),
            Tok::Cmp(op) => format!("'{}'", op.symbol()),
            Tok::End => "the end of the expression".to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    /// 1-based character (not byte) position of the token's first character.
    pub(crate) pos: usize,
}

/// Attribute names are restricted so that a stray `]` or a missing bracket is caught here rather
/// than turning into a lookup of an attribute that can never exist. The set covers Graph
/// extension attributes (`extension_<appId>_name`) and dotted Okta paths (`profile.login`).
fn is_attribute_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | ':' | '-')
}

pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>, ParseError> {
    let chars: Vec<char> = src.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let pos = i + 1;
        match c {
            c if c.is_whitespace() => {
                i += 1;
            }
            '(' | ')' | ',' | '=' => {
                let tok = match c {
                    '(' => Tok::LParen,
                    ')' => Tok::RParen,
                    ',' => Tok::Comma,
                    _ => Tok::Cmp(CmpOp::Eq),
                };
                tokens.push(Token { tok, pos });
                i += 1;
            }
            '<' | '>' => {
                let next = chars.get(i + 1).copied();
                let (op, width) = match (c, next) {
                    ('<', Some('>')) => (CmpOp::Ne, 2),
                    ('<', Some('=')) => (CmpOp::Le, 2),
                    ('>', Some('=')) => (CmpOp::Ge, 2),
                    ('<', _) => (CmpOp::Lt, 1),
                    _ => (CmpOp::Gt, 1),
                };
                tokens.push(Token {
                    tok: Tok::Cmp(op),
                    pos,
                });
                i += width;
            }
            '[' => {
                let (name, next) = attribute(&chars, i)?;
                tokens.push(Token {
                    tok: Tok::Attribute(name),
                    pos,
                });
                i = next;
            }
            '"' => {
                let (text, next) = string(&chars, i)?;
                tokens.push(Token {
                    tok: Tok::Str(text),
                    pos,
                });
                i = next;
            }
            c if c.is_ascii_digit() || (c == '-' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) => {
                let start = i;
                i += 1;
                while chars.get(i).is_some_and(|d| d.is_ascii_digit()) {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                tokens.push(Token {
                    tok: Tok::Number(text),
                    pos,
                });
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while chars.get(i).is_some_and(|d| d.is_alphanumeric() || *d == '_') {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                tokens.push(Token {
                    tok: Tok::Ident(text),
                    pos,
                });
            }
            other => {
                return Err(ParseError::new(
                    pos,
                    format!(
                        "unexpected character '{other}': expected an attribute in [brackets], a \
                         string in \"quotes\", a number or a function call"
                    ),
                ));
            }
        }
    }
    tokens.push(Token {
        tok: Tok::End,
        pos: chars.len() + 1,
    });
    Ok(tokens)
}

fn attribute(chars: &[char], open: usize) -> Result<(String, usize), ParseError> {
    let mut i = open + 1;
    let mut name = String::new();
    loop {
        match chars.get(i) {
            Some(']') => break,
            Some(&c) if is_attribute_char(c) => name.push(c),
            Some(&c) => {
                return Err(ParseError::new(
                    i + 1,
                    format!(
                        "unexpected character '{c}' in an attribute name: expected a letter, a \
                         digit, '_', '.', ':', '-' or the closing ']'"
                    ),
                ))
            }
            None => {
                return Err(ParseError::new(
                    i + 1,
                    format!(
                        "expected ']' to close the attribute opened at position {}",
                        open + 1
                    ),
                ))
            }
        }
        i += 1;
    }
    if name.is_empty() {
        return Err(ParseError::new(
            open + 1,
            "expected an attribute name between '[' and ']'",
        ));
    }
    Ok((name, i + 1))
}

/// Only `\\` and `\"` are escapes, as Microsoft documents. Any other backslash is rejected
/// rather than kept: in a pattern like `"\d"` the admin almost always meant the regex escape,
/// which has to be written `"\\d"`, and silently guessing would make the same text mean
/// different things here and in Entra.
fn string(chars: &[char], open: usize) -> Result<(String, usize), ParseError> {
    let mut i = open + 1;
    let mut text = String::new();
    loop {
        match chars.get(i) {
            Some('"') => return Ok((text, i + 1)),
            Some('\\') => match chars.get(i + 1) {
                Some(&c @ ('\\' | '"')) => {
                    text.push(c);
                    i += 2;
                }
                _ => {
                    return Err(ParseError::new(
                        i + 1,
                        "expected '\\' or '\"' after '\\' in a string constant (write a literal \
                         backslash as \\\\)",
                    ))
                }
            },
            Some(&c) => {
                text.push(c);
                i += 1;
            }
            None => {
                return Err(ParseError::new(
                    i + 1,
                    format!(
                        "expected '\"' to close the string constant opened at position {}",
                        open + 1
                    ),
                ))
            }
        }
    }
}

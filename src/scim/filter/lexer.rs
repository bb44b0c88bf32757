//! Splits filter and PATCH path text into tokens, decoding JSON strings and numbers.
//!
//! Keywords (`and`, `eq`, `true`, ...) are not recognised here: an attribute may be called
//! `not` or `pr`, so only the parser, which knows what it expects next, can tell.

use super::error::FilterError;

/// One token and the character position where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub kind: TokenKind,
    pub position: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TokenKind {
    /// An attribute path or a keyword: letters, digits and `- _ $ : .`, starting with a
    /// letter, `$` or `_`. URNs such as `urn:ietf:params:scim:schemas:core:2.0:User:userName`
    /// are one word; the parser splits them.
    Word(String),
    /// A JSON string, escapes decoded.
    Str(String),
    Number(serde_json::Number),
    LParen,
    RParen,
    LBracket,
    RBracket,
    /// A `.` that does not continue a word: the sub-attribute after `]` in
    /// `emails[type eq "work"].value`.
    Dot,
}

impl TokenKind {
    /// How an error message names this token.
    pub fn describe(&self) -> String {
        match self {
            TokenKind::Word(w) => format!("\"{w}\""),
            TokenKind::Str(s) => format!("the string {}", serde_json::Value::String(s.clone())),
            TokenKind::Number(n) => format!("the number {n}"),
            TokenKind::LParen => "\"(\"".to_string(),
            TokenKind::RParen => "\")\"".to_string(),
            TokenKind::LBracket => "\"[\"".to_string(),
            TokenKind::RBracket => "\"]\"".to_string(),
            TokenKind::Dot => "\".\"".to_string(),
        }
    }
}

fn is_word_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '$' || c == '_'
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '$' | ':' | '.')
}

/// Characters that may continue a number, gathered greedily so that `12abc` or `1..2` is
/// reported as one bad number rather than as a confusing pair of tokens.
fn is_number_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-' | '_')
}

/// Tokenizes the whole input. The ABNF separates tokens with a single space; any run of
/// whitespace is accepted, because clients and URL encoders are not that careful.
pub(crate) fn tokenize(input: &str) -> Result<Vec<Token>, FilterError> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let start = i;
        let kind = match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '(' => TokenKind::LParen,
            ')' => TokenKind::RParen,
            '[' => TokenKind::LBracket,
            ']' => TokenKind::RBracket,
            '.' => TokenKind::Dot,
            '"' => {
                let (text, next) = read_string(&chars, start)?;
                i = next;
                tokens.push(Token {
                    kind: TokenKind::Str(text),
                    position: start,
                });
                continue;
            }
            c if c == '-' || c.is_ascii_digit() => {
                let end = scan(&chars, start + 1, is_number_char);
                let text: String = chars[start..end].iter().collect();
                let number = text
                    .parse::<serde_json::Number>()
                    .map_err(|_| FilterError::InvalidNumber {
                        text: text.clone(),
                        position: start,
                    })?;
                i = end;
                tokens.push(Token {
                    kind: TokenKind::Number(number),
                    position: start,
                });
                continue;
            }
            c if is_word_start(c) => {
                let end = scan(&chars, start + 1, is_word_char);
                i = end;
                let word = chars[start..end].iter().collect();
                tokens.push(Token {
                    kind: TokenKind::Word(word),
                    position: start,
                });
                continue;
            }
            other => {
                return Err(FilterError::UnexpectedCharacter {
                    character: other,
                    position: start,
                })
            }
        };
        tokens.push(Token {
            kind,
            position: start,
        });
        i += 1;
    }
    Ok(tokens)
}

fn scan(chars: &[char], from: usize, accept: fn(char) -> bool) -> usize {
    let mut end = from;
    while chars.get(end).is_some_and(|&c| accept(c)) {
        end += 1;
    }
    end
}

/// Reads a JSON string (RFC 8259 section 7) whose opening quote is at `start`. Returns the
/// decoded text and the position just past the closing quote.
fn read_string(chars: &[char], start: usize) -> Result<(String, usize), FilterError> {
    let mut out = String::new();
    let mut i = start + 1;
    loop {
        let Some(&c) = chars.get(i) else {
            return Err(FilterError::UnterminatedString { position: start });
        };
        match c {
            '"' => return Ok((out, i + 1)),
            '\\' => {
                let (decoded, next) = read_escape(chars, i, start)?;
                out.push(decoded);
                i = next;
            }
            c if (c as u32) < 0x20 => {
                return Err(FilterError::ControlCharacter {
                    code: c as u32,
                    position: i,
                });
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
}

/// Decodes the escape whose backslash is at `at`; `string_start` is for the
/// unterminated-string error when the input ends inside the escape.
fn read_escape(chars: &[char], at: usize, string_start: usize) -> Result<(char, usize), FilterError> {
    let Some(&kind) = chars.get(at + 1) else {
        return Err(FilterError::UnterminatedString {
            position: string_start,
        });
    };
    let simple = match kind {
        '"' => Some('"'),
        '\\' => Some('\\'),
        '/' => Some('/'),
        'b' => Some('\u{8}'),
        'f' => Some('\u{c}'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        _ => None,
    };
    if let Some(decoded) = simple {
        return Ok((decoded, at + 2));
    }
    if kind != 'u' {
        return Err(FilterError::InvalidEscape {
            sequence: format!("\\{kind}"),
            position: at,
        });
    }
    let high = read_hex4(chars, at, string_start)?;
    if (0xDC00..=0xDFFF).contains(&high) {
        return Err(invalid_escape(chars, at, 6));
    }
    if !(0xD800..=0xDBFF).contains(&high) {
        return char::from_u32(high)
            .map(|c| (c, at + 6))
            .ok_or_else(|| invalid_escape(chars, at, 6));
    }
    // A high surrogate must be followed by an escaped low surrogate (RFC 8259 section 7).
    if chars.get(at + 6) != Some(&'\\') || chars.get(at + 7) != Some(&'u') {
        return Err(invalid_escape(chars, at, 6));
    }
    let low = read_hex4(chars, at + 6, string_start)?;
    if !(0xDC00..=0xDFFF).contains(&low) {
        return Err(invalid_escape(chars, at, 12));
    }
    let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
    char::from_u32(code)
        .map(|c| (c, at + 12))
        .ok_or_else(|| invalid_escape(chars, at, 12))
}

/// Reads the four hex digits of the `\uXXXX` escape whose backslash is at `at`.
fn read_hex4(chars: &[char], at: usize, string_start: usize) -> Result<u32, FilterError> {
    let mut value = 0u32;
    for offset in 2..6 {
        let Some(&c) = chars.get(at + offset) else {
            return Err(FilterError::UnterminatedString {
                position: string_start,
            });
        };
        let Some(digit) = c.to_digit(16) else {
            return Err(invalid_escape(chars, at, offset + 1));
        };
        value = value * 16 + digit;
    }
    Ok(value)
}

fn invalid_escape(chars: &[char], at: usize, len: usize) -> FilterError {
    let end = (at + len).min(chars.len());
    FilterError::InvalidEscape {
        sequence: chars[at..end].iter().collect(),
        position: at,
    }
}

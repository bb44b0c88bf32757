//! Limits on the strings a client writes: identifiers (`userName`, `externalId`, email
//! addresses, `preferredLanguage`, member ids) and display strings (names, titles,
//! departments). Both refuse control characters; a value over a limit is a 400
//! `invalidValue` naming the attribute (RFC 7644 section 3.12).

use super::error::ScimError;

/// The longest identifier, in characters (Unicode scalar values).
pub const MAX_IDENTIFIER_CHARS: usize = 256;

/// The longest display string, in characters.
pub const MAX_TEXT_CHARS: usize = 1024;

/// An identifier: at most [`MAX_IDENTIFIER_CHARS`], no control characters.
pub fn identifier(label: &str, value: &str) -> Result<(), ScimError> {
    check(label, value, MAX_IDENTIFIER_CHARS)
}

/// A display string: at most [`MAX_TEXT_CHARS`], no control characters.
pub fn text(label: &str, value: &str) -> Result<(), ScimError> {
    check(label, value, MAX_TEXT_CHARS)
}

/// Control characters are Unicode's `Cc`: C0 (U+0000 to U+001F, NUL, tab and line breaks
/// included), DEL and C1 (U+007F to U+009F).
fn check(label: &str, value: &str, max: usize) -> Result<(), ScimError> {
    if let Some((i, c)) = value.chars().enumerate().find(|(_, c)| c.is_control()) {
        return Err(ScimError::bad(
            "invalidValue",
            format!(
                "{label} contains the control character U+{:04X} at position {i}",
                u32::from(c)
            ),
        ));
    }
    if value.chars().nth(max).is_some() {
        return Err(ScimError::bad(
            "invalidValue",
            format!("{label} is longer than {max} characters"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_count_characters_and_refuse_controls() {
        assert!(identifier("userName", &"é".repeat(MAX_IDENTIFIER_CHARS)).is_ok());
        let e = identifier("userName", &"a".repeat(MAX_IDENTIFIER_CHARS + 1)).unwrap_err();
        assert_eq!(e.detail, "userName is longer than 256 characters");
        assert!(text("title", &"a".repeat(MAX_TEXT_CHARS)).is_ok());
        assert!(text("title", &"a".repeat(MAX_TEXT_CHARS + 1)).is_err());
        for bad in ["a\0b", "a\tb", "a\nb", "a\u{7f}", "a\u{85}"] {
            let e = text("displayName", bad).unwrap_err();
            assert_eq!(e.scim_type, Some("invalidValue"));
            assert!(
                e.detail
                    .starts_with("displayName contains the control character U+"),
                "{e:?}"
            );
        }
        assert!(text("displayName", "Zoë O'Brien-Smith (HR) ✓").is_ok());
    }
}

//! Comparison keys for sign-in names and email addresses.

use unicode_normalization::UnicodeNormalization;

/// The key under which UPNs and emails are compared: trimmed, NFKC-normalized and lowercased,
/// so `Ann@Example.com `, `ann@example.com` and a full-width `ａｎｎ@example.com` meet.
pub fn identity_key(value: &str) -> String {
    let value = value.trim();
    if value.is_ascii() {
        // NFKC leaves ASCII alone; this path is most sign-in names, and most of the time.
        return value.to_ascii_lowercase();
    }
    value.nfkc().flat_map(char::to_lowercase).collect()
}

#[cfg(test)]
mod tests {
    use super::identity_key;

    #[test]
    fn folds_case_space_and_unicode_forms() {
        let same = [
            ("Ann@Example.COM", "ann@example.com"),
            ("  ann@example.com\t", "ann@example.com"),
            ("\u{ff41}nn@example.com", "ann@example.com"),
            ("Ame\u{301}lie@example.com", "am\u{e9}lie@example.com"),
            ("ÉMILE@EXAMPLE.COM", "émile@example.com"),
        ];
        for (a, b) in same {
            assert_eq!(identity_key(a), identity_key(b), "{a} vs {b}");
        }
        assert_ne!(identity_key("ann@example.com"), identity_key("anne@example.com"));
    }
}

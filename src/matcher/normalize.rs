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
    // NFKC can begin or end a value with a space (U+00B8 CEDILLA is a space and a combining
    // cedilla), and lowercasing can leave a form NFKC would change: normalize and trim once
    // more, so the key of a key is the key.
    let lower: String = value.nfkc().flat_map(char::to_lowercase).collect();
    lower.nfkc().collect::<String>().trim().to_owned()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use unicode_normalization::UnicodeNormalization;

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

    #[test]
    fn the_documented_variants_meet() {
        let same = [
            ("ÅSA", "åsa"),
            ("\u{ff42}\u{ff4f}\u{ff42}", "bob"),
            ("\u{fb01}nn", "finn"),
            ("a\u{30a}sa", "\u{e5}sa"),
            ("A\u{30a}SA@EXAMPLE.COM", "åsa@example.com"),
        ];
        for value in [
            "\u{1d2c}",
            "\u{b8}x",
            "x\u{b8}",
            "\u{3000}a\u{3000}",
            "\u{130}",
            "\u{1e9e}",
        ] {
            let key = identity_key(value);
            assert_eq!(identity_key(&key), key, "{value:?}");
        }
        for (a, b) in same {
            assert_eq!(identity_key(a), identity_key(b), "{a:?} vs {b:?}");
        }
    }

    /// ASCII letters, digits and sign-in punctuation, as UPNs and emails are mostly made of.
    fn ascii_name() -> impl Strategy<Value = String> {
        "[A-Za-z0-9._@+-]{0,24}"
    }

    proptest! {
        #[test]
        fn the_key_is_idempotent(value in any::<String>()) {
            let key = identity_key(&value);
            prop_assert_eq!(identity_key(&key), key);
        }

        #[test]
        fn case_does_not_matter(value in ascii_name()) {
            prop_assert_eq!(identity_key(&value.to_uppercase()), identity_key(&value.to_lowercase()));
        }

        #[test]
        fn full_width_forms_meet_their_ascii(value in ascii_name()) {
            // U+FF01..U+FF5E are the full-width forms of U+0021..U+007E.
            let wide: String = value
                .chars()
                .map(|c| char::from_u32(c as u32 - 0x21 + 0xff01).unwrap_or(c))
                .collect();
            prop_assert_eq!(identity_key(&wide), identity_key(&value));
        }

        #[test]
        fn composed_and_decomposed_forms_meet(value in any::<String>()) {
            let nfc: String = value.nfc().collect();
            let nfd: String = value.nfd().collect();
            prop_assert_eq!(identity_key(&nfc), identity_key(&nfd));
        }

        #[test]
        fn surrounding_space_does_not_matter(value in ascii_name(), pad in "[ \t]{0,3}") {
            prop_assert_eq!(identity_key(&format!("{pad}{value}{pad}")), identity_key(&value));
        }
    }
}

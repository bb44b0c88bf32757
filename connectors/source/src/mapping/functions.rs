//! The function catalogue (names, signatures) and the pure string transforms behind the
//! functions, kept apart from evaluation so each transform can be read against Microsoft's
//! description of it.

use unicode_normalization::UnicodeNormalization;

/// The functions idsync evaluates. Names and parameter order follow Microsoft's "Reference for
/// writing expressions for attribute mappings in Microsoft Entra ID", so an expression copied
/// from an Entra provisioning app means the same thing here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Function {
    Append,
    Coalesce,
    Iif,
    IsNull,
    IsNullOrEmpty,
    IsPresent,
    Item,
    Join,
    Left,
    Mid,
    NormalizeDiacritics,
    Not,
    Replace,
    StripSpaces,
    Switch,
    ToLower,
    ToUpper,
    Trim,
    Word,
}

const ALL: [Function; 19] = [
    Function::Append,
    Function::Coalesce,
    Function::Iif,
    Function::IsNull,
    Function::IsNullOrEmpty,
    Function::IsPresent,
    Function::Item,
    Function::Join,
    Function::Left,
    Function::Mid,
    Function::NormalizeDiacritics,
    Function::Not,
    Function::Replace,
    Function::StripSpaces,
    Function::Switch,
    Function::ToLower,
    Function::ToUpper,
    Function::Trim,
    Function::Word,
];

/// Entra functions idsync does not evaluate. Naming them separately turns "unknown function"
/// into a message that tells the admin the expression is valid in Entra but not here.
const ENTRA_ONLY: [&str; 25] = [
    "AppRoleAssignmentsComplex",
    "BitAnd",
    "CBool",
    "CDate",
    "ConvertToBase64",
    "ConvertToUTF8Hex",
    "Count",
    "CStr",
    "DateAdd",
    "DateDiff",
    "DateFromNum",
    "FormatDateTime",
    "Guid",
    "IgnoreFlowIfNullOrEmpty",
    "InStr",
    "IsString",
    "Now",
    "NumFromDate",
    "PCase",
    "RandomString",
    "Redact",
    "RemoveDuplicates",
    "SelectUniqueValue",
    "SingleAppRoleAssignment",
    "Split",
];

/// Why a name did not resolve to a function.
pub(crate) enum Unknown {
    EntraOnly(&'static str),
    NotAFunction,
}

impl Function {
    /// Names match case-insensitively. Microsoft calls the syntax case-sensitive, yet its own
    /// pages write `switch(...)` and `IsNullorEmpty`; accepting any casing takes every
    /// expression Entra takes and only adds ones it would reject.
    pub(crate) fn lookup(name: &str) -> Result<Function, Unknown> {
        if let Some(f) = ALL.iter().find(|f| f.name().eq_ignore_ascii_case(name)) {
            return Ok(*f);
        }
        match ENTRA_ONLY.iter().find(|n| n.eq_ignore_ascii_case(name)) {
            Some(n) => Err(Unknown::EntraOnly(n)),
            None => Err(Unknown::NotAFunction),
        }
    }

    pub(crate) fn supported_names() -> String {
        ALL.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ")
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Function::Append => "Append",
            Function::Coalesce => "Coalesce",
            Function::Iif => "IIF",
            Function::IsNull => "IsNull",
            Function::IsNullOrEmpty => "IsNullOrEmpty",
            Function::IsPresent => "IsPresent",
            Function::Item => "Item",
            Function::Join => "Join",
            Function::Left => "Left",
            Function::Mid => "Mid",
            Function::NormalizeDiacritics => "NormalizeDiacritics",
            Function::Not => "Not",
            Function::Replace => "Replace",
            Function::StripSpaces => "StripSpaces",
            Function::Switch => "Switch",
            Function::ToLower => "ToLower",
            Function::ToUpper => "ToUpper",
            Function::Trim => "Trim",
            Function::Word => "Word",
        }
    }

    /// The signature as Microsoft writes it, quoted in argument-count errors.
    pub(crate) fn usage(self) -> &'static str {
        match self {
            Function::Append => "Append(source, suffix)",
            Function::Coalesce => "Coalesce(source1, source2, ..., defaultValue)",
            Function::Iif => "IIF(condition, valueIfTrue, valueIfFalse)",
            Function::IsNull => "IsNull(Expression)",
            Function::IsNullOrEmpty => "IsNullOrEmpty(Expression)",
            Function::IsPresent => "IsPresent(Expression)",
            Function::Item => "Item(attribute, index)",
            Function::Join => "Join(separator, source1, source2, ...)",
            Function::Left => "Left(String, NumChars)",
            Function::Mid => "Mid(source, start, length)",
            Function::NormalizeDiacritics => "NormalizeDiacritics(source)",
            Function::Not => "Not(source)",
            Function::Replace => {
                "Replace(source, oldValue, regexPattern, regexGroupName, replacementValue, \
                 replacementAttributeName, template)"
            }
            Function::StripSpaces => "StripSpaces(source)",
            Function::Switch => "Switch(source, defaultValue, key1, value1, key2, value2, ...)",
            Function::ToLower => "ToLower(source, culture)",
            Function::ToUpper => "ToUpper(source, culture)",
            Function::Trim => "Trim(source)",
            Function::Word => "Word(String, WordNumber, Delimiters)",
        }
    }

    /// Smallest and largest number of argument slots (an empty slot counts); `None` is
    /// unbounded.
    pub(crate) fn arity(self) -> (usize, Option<usize>) {
        match self {
            Function::Coalesce => (1, None),
            Function::Join => (2, None),
            Function::Switch => (4, None),
            Function::ToLower | Function::ToUpper => (1, Some(2)),
            // All seven slots, as in every Microsoft example: the form is chosen by which slots
            // are filled, so a dropped comma would silently move a value into another role.
            Function::Replace => (7, Some(7)),
            Function::Iif | Function::Mid | Function::Word => (3, Some(3)),
            Function::Append | Function::Item | Function::Left => (2, Some(2)),
            Function::IsNull
            | Function::IsNullOrEmpty
            | Function::IsPresent
            | Function::NormalizeDiacritics
            | Function::Not
            | Function::StripSpaces
            | Function::Trim => (1, Some(1)),
        }
    }

    /// Whether slot `index` (0-based) may be left empty, as in `Switch([x], , "a", "b")`.
    pub(crate) fn slot_optional(self, index: usize) -> bool {
        match self {
            Function::Replace => index > 0,
            Function::Switch => index == 1,
            Function::ToLower | Function::ToUpper => index == 1,
            _ => false,
        }
    }

    /// The documented name of slot `index` (0-based), for messages.
    pub(crate) fn param_name(self, index: usize) -> String {
        let fixed: &[&str] = match self {
            Function::Append => &["source", "suffix"],
            Function::Iif => &["condition", "valueIfTrue", "valueIfFalse"],
            Function::IsNull | Function::IsNullOrEmpty | Function::IsPresent => &["Expression"],
            Function::Item => &["attribute", "index"],
            Function::Left => &["String", "NumChars"],
            Function::Mid => &["source", "start", "length"],
            Function::Replace => &[
                "source",
                "oldValue",
                "regexPattern",
                "regexGroupName",
                "replacementValue",
                "replacementAttributeName",
                "template",
            ],
            Function::ToLower | Function::ToUpper => &["source", "culture"],
            Function::Word => &["String", "WordNumber", "Delimiters"],
            Function::NormalizeDiacritics | Function::Not | Function::StripSpaces | Function::Trim => {
                &["source"]
            }
            Function::Coalesce => return format!("source{}", index + 1),
            Function::Join => {
                return match index {
                    0 => "separator".to_owned(),
                    n => format!("source{n}"),
                }
            }
            Function::Switch => {
                return match index {
                    0 => "source".to_owned(),
                    1 => "defaultValue".to_owned(),
                    n if n % 2 == 0 => format!("key{}", n / 2),
                    n => format!("value{}", n / 2),
                }
            }
        };
        fixed
            .get(index)
            .map_or_else(|| format!("argument {}", index + 1), |s| (*s).to_owned())
    }
}

/// Turkish and Azeri are the cultures whose casing of `i` differs from the invariant culture;
/// for every other culture the invariant mapping is already what .NET produces.
fn is_turkic(culture: Option<&str>) -> bool {
    culture.is_some_and(|c| {
        let lang = c.split(['-', '_']).next().unwrap_or_default();
        lang.eq_ignore_ascii_case("tr") || lang.eq_ignore_ascii_case("az")
    })
}

/// .NET maps case one character at a time, so characters whose full mapping would change the
/// length (`ß` to `SS`) stay as they are, and a value keeps its length through `ToUpper`.
fn map_case(s: &str, upper: bool, culture: Option<&str>) -> String {
    let turkic = is_turkic(culture);
    s.chars()
        .map(|c| match (upper, turkic, c) {
            (true, true, 'i') => 'İ',
            (false, true, 'I') => 'ı',
            (false, true, 'İ') => 'i',
            _ => {
                let mut mapped: Vec<char> = if upper {
                    c.to_uppercase().collect()
                } else {
                    c.to_lowercase().collect()
                };
                match (mapped.len(), mapped.pop()) {
                    (1, Some(m)) => m,
                    _ => c,
                }
            }
        })
        .collect()
}

pub(crate) fn to_lower(s: &str, culture: Option<&str>) -> String {
    map_case(s, false, culture)
}

pub(crate) fn to_upper(s: &str, culture: Option<&str>) -> String {
    map_case(s, true, culture)
}

/// Microsoft documents spaces only; tabs and other whitespace are left for `Trim` or `Replace`.
pub(crate) fn strip_spaces(s: &str) -> String {
    s.chars().filter(|c| *c != ' ').collect()
}

/// Letters without a decomposition that Microsoft's table still maps (`ß` to `ss`, `ø` to `oe`).
fn special_letter(c: char) -> Option<&'static str> {
    Some(match c {
        'æ' => "ae",
        'Æ' => "AE",
        'ø' => "oe",
        'Ø' => "OE",
        'œ' => "oe",
        'Œ' => "OE",
        'ß' => "ss",
        'ł' => "l",
        'Ł' => "L",
        'ı' => "i",
        _ => return None,
    })
}

/// Latin letters are the ones Microsoft's table covers. Marks on other scripts are kept so
/// that, say, Japanese voiced kana or Cyrillic `й` are not turned into different letters.
fn is_latin_base(c: char) -> bool {
    c.is_ascii_alphabetic() || ('\u{00C0}'..='\u{024F}').contains(&c)
}

/// Follows the table in Microsoft's NormalizeDiacritics reference: decompose, drop the
/// combining accents on Latin letters, then map the few letters that have no decomposition.
pub(crate) fn normalize_diacritics(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut last_base_latin = false;
    for c in s.nfd() {
        let combining_accent = ('\u{0300}'..='\u{036F}').contains(&c);
        if combining_accent && last_base_latin {
            continue;
        }
        if !combining_accent {
            last_base_latin = is_latin_base(c);
        }
        match special_letter(c) {
            Some(replacement) => out.push_str(replacement),
            None => out.push(c),
        }
    }
    out.nfc().collect()
}

/// Microsoft's rules: 0 gives "", a negative count gives the whole string.
pub(crate) fn left(s: &str, count: i64) -> String {
    match usize::try_from(count) {
        Ok(n) => s.chars().take(n).collect(),
        Err(_) => s.to_owned(),
    }
}

/// `start` is 1-based and already checked to be at least 1; a length running past the end
/// stops at the end, as documented.
pub(crate) fn mid(s: &str, start: usize, length: usize) -> String {
    s.chars().skip(start - 1).take(length).collect()
}

/// Words are the non-empty runs between any of the delimiter characters; a number below 1 or
/// past the last word gives "", as documented.
pub(crate) fn word(s: &str, number: i64, delimiters: &str) -> String {
    let Ok(index) = usize::try_from(number) else {
        return String::new();
    };
    if index == 0 {
        return String::new();
    }
    s.split(|c: char| delimiters.contains(c))
        .filter(|w| !w.is_empty())
        .nth(index - 1)
        .unwrap_or_default()
        .to_owned()
}

/// Rewrites a .NET replacement string (`$1`, `${name}`, `$&`, `$$`) into the `regex` crate's
/// syntax. They agree on `${name}`; they differ on `$1a` (.NET: group 1 then "a"; the crate: a
/// group named "1a") and on `$&`, and a lone `$` is literal in .NET but not in the crate.
pub(crate) fn dotnet_replacement(template: &str) -> String {
    let chars: Vec<char> = template.chars().collect();
    let mut out = String::with_capacity(template.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '$' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => {
                out.push_str("$$");
                i += 2;
            }
            Some('&') => {
                out.push_str("${0}");
                i += 2;
            }
            Some('{') => match chars[i + 2..].iter().position(|c| *c == '}') {
                Some(len) => {
                    let name: String = chars[i + 2..i + 2 + len].iter().collect();
                    out.push_str(&format!("${{{name}}}"));
                    i += len + 3;
                }
                None => {
                    out.push_str("$$");
                    i += 1;
                }
            },
            Some(d) if d.is_ascii_digit() => {
                let start = i + 1;
                let mut end = start;
                while chars.get(end).is_some_and(|c| c.is_ascii_digit()) {
                    end += 1;
                }
                let digits: String = chars[start..end].iter().collect();
                out.push_str(&format!("${{{digits}}}"));
                i = end;
            }
            _ => {
                out.push_str("$$");
                i += 1;
            }
        }
    }
    out
}

//! The parameters of each built-in function: names (as documented by Microsoft), how many are
//! required, and how variable-length parameter lists are named.

/// How a function's parameter list continues after its fixed parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repeat {
    /// No further parameters.
    None,
    /// Numbered parameters: `source1`, `source2`, ...
    Numbered(&'static str),
    /// Numbered pairs: `key1`, `value1`, `key2`, `value2`, ...
    Pairs(&'static str, &'static str),
}

/// The parameter list of a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Signature {
    /// The function name.
    pub name: &'static str,
    /// Fixed parameters, in order.
    pub params: &'static [&'static str],
    /// How many arguments are required at least.
    pub min_args: usize,
    /// The most arguments accepted; `None` when unbounded.
    pub max_args: Option<usize>,
    /// How the list continues after `params`.
    pub repeat: Repeat,
}

const fn fixed(name: &'static str, params: &'static [&'static str], min_args: usize) -> Signature {
    Signature {
        name,
        params,
        min_args,
        max_args: Some(params.len()),
        repeat: Repeat::None,
    }
}

/// The signatures of all built-in functions.
pub(crate) const SIGNATURES: &[Signature] = &[
    fixed("AltSecIdFromNetId", &["source"], 1),
    fixed("Append", &["source", "suffix"], 2),
    fixed("AppRoleAssignmentsComplex", &["appRoleAssignments"], 1),
    fixed("BitAnd", &["value1", "value2"], 2),
    fixed("CBool", &["Expression"], 1),
    fixed("CDate", &["expression"], 1),
    Signature {
        name: "Coalesce",
        params: &[],
        min_args: 1,
        max_args: None,
        repeat: Repeat::Numbered("source"),
    },
    fixed("ConvertToBase64", &["source"], 1),
    fixed("ConvertToUTF8Hex", &["source"], 1),
    fixed("Count", &["attribute"], 1),
    fixed("CStr", &["value"], 1),
    fixed("DateAdd", &["interval", "value", "dateTime"], 3),
    fixed("DateDiff", &["interval", "date1", "date2"], 3),
    fixed("DateFromNum", &["value"], 1),
    fixed("DefaultDomain", &[], 0),
    fixed(
        "FormatDateTime",
        &["source", "dateTimeStyles", "inputFormat", "outputFormat"],
        3,
    ),
    fixed("Guid", &[], 0),
    fixed("IgnoreFlowIfNullOrEmpty", &["expression"], 1),
    fixed("IIF", &["condition", "valueIfTrue", "valueIfFalse"], 3),
    fixed("InStr", &["value1", "value2", "start", "compareType"], 2),
    fixed("IsNull", &["Expression"], 1),
    fixed("IsNullOrEmpty", &["Expression"], 1),
    fixed("IsPresent", &["Expression"], 1),
    fixed("IsString", &["Expression"], 1),
    fixed("Item", &["attribute", "index"], 2),
    Signature {
        name: "Join",
        params: &["separator"],
        min_args: 2,
        max_args: None,
        repeat: Repeat::Numbered("source"),
    },
    fixed("Left", &["String", "NumChars"], 2),
    fixed("Mid", &["source", "start", "length"], 3),
    fixed("NormalizeDiacritics", &["source"], 1),
    fixed("Not", &["source"], 1),
    fixed("Now", &[], 0),
    fixed("NumFromDate", &["value"], 1),
    fixed("PCase", &["source", "wordSeparators"], 1),
    fixed(
        "RandomString",
        &[
            "Length",
            "MinimumNumbers",
            "MinimumSpecialCharacters",
            "MinimumCapital",
            "MinimumLowerCase",
            "CharactersToAvoid",
        ],
        5,
    ),
    fixed("Redact", &["source"], 1),
    fixed("RemoveDuplicates", &["attribute"], 1),
    // Graph's parseExpression names Replace's oldValue "Find" and replacementValue
    // "Replacement"; the documented names are accepted as aliases when reading a tree.
    fixed(
        "Replace",
        &[
            "source",
            "Find",
            "regexPattern",
            "regexGroupName",
            "Replacement",
            "replacementAttributeName",
            "template",
        ],
        1,
    ),
    Signature {
        name: "SelectUniqueValue",
        params: &[],
        min_args: 2,
        max_args: None,
        repeat: Repeat::Numbered("uniqueValueRule"),
    },
    fixed("SingleAppRoleAssignment", &["appRoleAssignments"], 1),
    fixed("Split", &["source", "delimiter"], 2),
    fixed("StripSpaces", &["source"], 1),
    Signature {
        name: "Switch",
        params: &["source", "defaultValue"],
        min_args: 4,
        max_args: None,
        repeat: Repeat::Pairs("key", "value"),
    },
    fixed("ToLower", &["source", "culture"], 1),
    fixed("ToUpper", &["source", "culture"], 1),
    fixed("Word", &["String", "WordNumber", "Delimiters"], 3),
];

/// Aliases accepted for parameter keys when reading a tree: (function, alias, canonical key).
const ALIASES: &[(&str, &str, &str)] = &[
    ("AltSecIdFromNetId", "netId", "source"),
    ("Replace", "oldValue", "Find"),
    ("Replace", "replacementValue", "Replacement"),
];

/// Other spellings Entra itself writes for a built-in function: its provisioning logs and
/// cross-tenant synchronization schemas show `AltSecidFromNetid([netId])`.
pub(crate) const FUNCTION_ALIASES: &[(&str, &str)] = &[("AltSecidFromNetid", "AltSecIdFromNetId")];

/// The signature of a built-in function, by its exact name or an alias in [`FUNCTION_ALIASES`].
pub(crate) fn signature(name: &str) -> Option<&'static Signature> {
    SIGNATURES.iter().find(|s| s.name == name).or_else(|| {
        let (_, canonical) = FUNCTION_ALIASES.iter().find(|(alias, _)| *alias == name)?;
        SIGNATURES.iter().find(|s| s.name == *canonical)
    })
}

/// The key of the parameter at `position` (0-based) of a call to `name` with `arg_count`
/// arguments. Functions that are not built in (plugin functions) use `arg1`, `arg2`, ...;
/// arguments past a fixed list use the same `argN` form.
pub(super) fn parameter_key(name: &str, position: usize, arg_count: usize) -> String {
    let Some(sig) = signature(name) else {
        return format!("arg{}", position + 1);
    };
    // Graph's own FormatDateTime form has no dateTimeStyles: (source, inputFormat, outputFormat).
    if sig.name == "FormatDateTime" && arg_count == 3 {
        return ["source", "inputFormat", "outputFormat"][position].to_string();
    }
    if let Some(p) = sig.params.get(position) {
        return (*p).to_string();
    }
    let rest = position - sig.params.len();
    match sig.repeat {
        Repeat::None => format!("arg{}", position + 1),
        Repeat::Numbered(base) => format!("{base}{}", rest + 1),
        Repeat::Pairs(k, v) => {
            let base = if rest.is_multiple_of(2) { k } else { v };
            format!("{base}{}", rest / 2 + 1)
        }
    }
}

/// The 0-based position of the parameter named `key` in a call to `name`, or `None` when the
/// function has no such parameter. Keys compare case-insensitively.
pub(super) fn parameter_position(name: &str, key: &str) -> Option<usize> {
    if let Some(n) = numbered(key, "arg") {
        return Some(n);
    }
    let sig = signature(name)?;
    let key = ALIASES
        .iter()
        .find(|(f, alias, _)| *f == sig.name && alias.eq_ignore_ascii_case(key))
        .map_or(key, |(_, _, canonical)| canonical);
    if let Some(i) = sig.params.iter().position(|p| p.eq_ignore_ascii_case(key)) {
        return Some(i);
    }
    let fixed = sig.params.len();
    match sig.repeat {
        Repeat::None => None,
        Repeat::Numbered(base) => numbered(key, base).map(|n| fixed + n),
        Repeat::Pairs(k, v) => numbered(key, k)
            .map(|n| fixed + 2 * n)
            .or_else(|| numbered(key, v).map(|n| fixed + 2 * n + 1)),
    }
}

/// `source3` with base `source` -> `Some(2)` (0-based); numbering starts at 1.
fn numbered(key: &str, base: &str) -> Option<usize> {
    let head = key.get(..base.len())?;
    if !head.eq_ignore_ascii_case(base) {
        return None;
    }
    let digits = &key[base.len()..];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
        return None;
    }
    let n: usize = digits.parse().ok()?;
    (1..=super::parser::MAX_EXPRESSION_CHARS)
        .contains(&n)
        .then(|| n - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_has_a_signature() {
        for f in super::super::BUILTIN_FUNCTIONS {
            assert!(signature(f).is_some(), "{f}");
        }
        assert_eq!(SIGNATURES.len(), super::super::BUILTIN_FUNCTIONS.len());
    }

    #[test]
    fn keys_and_positions_agree() {
        for sig in SIGNATURES {
            for count in [3usize, 4, 7, 9] {
                for pos in 0..count {
                    let key = parameter_key(sig.name, pos, count);
                    if sig.name == "FormatDateTime" && count == 3 {
                        continue;
                    }
                    assert_eq!(parameter_position(sig.name, &key), Some(pos), "{key}");
                }
            }
        }
        assert_eq!(parameter_key("Switch", 2, 6), "key1");
        assert_eq!(parameter_key("Switch", 5, 6), "value2");
        assert_eq!(parameter_key("Join", 1, 3), "source1");
        assert_eq!(parameter_position("Replace", "oldValue"), Some(1));
        assert_eq!(parameter_position("Replace", "replacementvalue"), Some(4));
        assert_eq!(parameter_position("Replace", "bogus"), None);
        assert_eq!(parameter_position("MyPlugin", "arg2"), Some(1));
        assert_eq!(parameter_position("Join", "source0"), None);
    }
}

//! A naming policy for display names in the target tenant: `PolicyDisplayName([givenName],
//! [surname], "Contoso")` gives `Lovelace, Ada (Contoso)`: words capitalized, spaces collapsed,
//! and the organization in parentheses.

use tenantsync_plugin::{CallError, plugin};

/// `Ada` from `  aDA `: trimmed, inner runs of spaces made one, each word capitalized (after a
/// space, hyphen or apostrophe).
fn normalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        for ch in word.chars() {
            if start {
                out.extend(ch.to_uppercase());
            } else {
                out.extend(ch.to_lowercase());
            }
            start = ch == '-' || ch == '\'';
        }
        start = true;
    }
    out
}

/// `Surname, Given (Org)`; either name may be missing, not both.
fn policy_display_name(
    given: Option<String>,
    surname: Option<String>,
    organization: Option<String>,
) -> Result<String, CallError> {
    let given = normalize(given.as_deref().unwrap_or(""));
    let surname = normalize(surname.as_deref().unwrap_or(""));
    let name = match (given.is_empty(), surname.is_empty()) {
        (true, true) => {
            return Err(CallError::InvalidArgument(
                "PolicyDisplayName: both the given name and the surname are empty; map at least one"
                    .into(),
            ));
        }
        (false, true) => given,
        (true, false) => surname,
        (false, false) => format!("{surname}, {given}"),
    };
    Ok(match organization.map(|o| o.trim().to_string()) {
        Some(o) if !o.is_empty() => format!("{name} ({o})"),
        _ => name,
    })
}

/// One name normalized: `NormalizeName("  mary-jane  o'neil")` is `Mary-Jane O'Neil`.
fn normalize_name(name: Option<String>) -> Option<String> {
    name.map(|n| normalize(&n))
}

plugin! {
    name: "name-policy",
    version: "0.1.0",
    functions: {
        "PolicyDisplayName"(given, surname, organization) => policy_display_name,
            "Surname, Given (Organization), each word capitalized.",
        "NormalizeName"(name) => normalize_name,
            "Trims, collapses spaces and capitalizes each word of a name.",
    }
}

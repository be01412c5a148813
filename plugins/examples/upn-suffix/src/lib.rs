//! Rewrites the domain of a user principal name for the target tenant, as after a merger:
//! `RewriteUpnSuffix([userPrincipalName], "fabrikam.com")` turns `ada@contoso.com` into
//! `ada@fabrikam.com`, and a guest's `ada_contoso.com#EXT#@contoso.onmicrosoft.com` into
//! `ada_contoso.com#EXT#@fabrikam.com`.

use tenantsync_plugin::{CallError, plugin};

/// Keeps the part before the last `@` and puts `domain` after it.
fn rewrite_upn_suffix(upn: Option<String>, domain: String) -> Result<Option<String>, CallError> {
    let domain = domain.trim().trim_start_matches('@');
    if domain.is_empty() || domain.contains('@') || domain.contains(char::is_whitespace) {
        return Err(CallError::InvalidArgument(format!(
            "RewriteUpnSuffix: '{domain}' is not a domain; give a domain such as \"fabrikam.com\""
        )));
    }
    Ok(upn.map(|upn| match upn.rsplit_once('@') {
        Some((local, _)) => format!("{local}@{}", domain.to_ascii_lowercase()),
        None => format!("{upn}@{}", domain.to_ascii_lowercase()),
    }))
}

plugin! {
    name: "upn-suffix",
    version: "0.1.0",
    functions: {
        "RewriteUpnSuffix"(upn, domain) => rewrite_upn_suffix,
            "Replaces the domain of a user principal name (null stays null).",
    }
}

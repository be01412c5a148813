//! Rewrites the domain of a user principal name for the target tenant, as after a merger:
//! `RewriteUpnSuffix([userPrincipalName], "fabrikam.com")` turns `ada@contoso.com` into
//! `ada@fabrikam.com`, and a guest's `ada_contoso.com#EXT#@contoso.onmicrosoft.com` into
//! `ada_contoso.com#EXT#@fabrikam.com`.

use tenantsync_plugin::{CallError, plugin};

/// Keeps the part before the last `@` and puts `domain` after it. The arguments are borrowed
/// (`&str`) and the answer is built in one allocation of the right size.
fn rewrite_upn_suffix(upn: Option<&str>, domain: &str) -> Result<Option<String>, CallError> {
    let domain = domain.trim().trim_start_matches('@');
    if domain.is_empty() || domain.chars().any(|c| c == '@' || c.is_whitespace()) {
        return Err(CallError::InvalidArgument(format!(
            "RewriteUpnSuffix: '{domain}' is not a domain; give a domain such as \"fabrikam.com\""
        )));
    }
    Ok(upn.map(|upn| {
        let local = upn.rfind('@').map_or(upn, |at| &upn[..at]);
        let mut out = String::with_capacity(local.len() + 1 + domain.len());
        out.push_str(local);
        out.push('@');
        out.push_str(domain);
        out[local.len() + 1..].make_ascii_lowercase();
        out
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

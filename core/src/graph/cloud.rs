//! Microsoft clouds: where to sign in and where Microsoft Graph lives.
//!
//! Endpoints follow Microsoft's national cloud deployments table
//! (<https://learn.microsoft.com/graph/deployments>): tokens are not interchangeable across
//! clouds, so the sign-in authority and the Graph host always come from the same [`Cloud`].

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A Microsoft cloud, named in job configuration as `"global"`, `"usgov"`, `"usgov-dod"`,
/// `"china"`, or `{ custom = { login_host = "...", graph_host = "...", ca_file = "..." } }`
/// (optionally with `graph_resource` and `token_exchange_audience`).
///
/// Default: [`Cloud::Global`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Cloud {
    /// The worldwide cloud (also used by GCC "moderate").
    #[default]
    #[serde(rename = "global")]
    Global,
    /// US Government L4 (GCC High).
    #[serde(rename = "usgov")]
    UsGovL4,
    /// US Government L5 (DoD).
    #[serde(rename = "usgov-dod")]
    UsGovL5,
    /// Microsoft Azure operated by 21Vianet (China).
    #[serde(rename = "china")]
    China,
    /// Custom endpoints, for sovereign deployments and local emulators.
    #[serde(rename = "custom")]
    Custom {
        /// The sign-in host, either a bare host name (`login.example.net`, HTTPS is implied)
        /// or a URL with scheme and port (`https://127.0.0.1:8443`).
        login_host: String,
        /// The Microsoft Graph host, in the same forms as `login_host`.
        graph_host: String,
        /// A PEM file of extra CA certificates to trust for both hosts (default: none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ca_file: Option<PathBuf>,
        /// The audience of managed identity tokens exchanged as federated credentials
        /// (default: `api://AzureADTokenExchange`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token_exchange_audience: Option<String>,
        /// The resource (token audience) Graph is known by at the identity platform, when it
        /// differs from `graph_host`: an egress proxy or private endpoint that fronts
        /// `https://graph.microsoft.com` under another host name still needs tokens for
        /// `https://graph.microsoft.com`. A URL (`https://graph.microsoft.com`) or an application
        /// ID URI. Default: the `graph_host` URL.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        graph_resource: Option<String>,
    },
}

/// Problems with a cloud's configuration.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CloudError {
    /// A custom cloud's `graph_resource` cannot name a token audience.
    #[error(
        "custom cloud graph_resource `{value}` is not a resource ({reason}); \
         give the resource Graph is known by, such as `https://graph.microsoft.com`"
    )]
    BadResource {
        /// The configured text.
        value: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A custom host is not a usable URL.
    #[error(
        "custom cloud {field} `{value}` is not a valid host or URL ({reason}); \
         give a host name such as `login.example.net` or a URL such as `https://127.0.0.1:8443`"
    )]
    BadHost {
        /// `login_host` or `graph_host`.
        field: &'static str,
        /// The configured text.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
}

impl Cloud {
    /// The sign-in authority host as a URL without trailing slash, e.g.
    /// `https://login.microsoftonline.com`. Tenant paths are appended to it.
    pub fn login_authority(&self) -> String {
        match self {
            Cloud::Global => "https://login.microsoftonline.com".to_owned(),
            Cloud::UsGovL4 | Cloud::UsGovL5 => "https://login.microsoftonline.us".to_owned(),
            Cloud::China => "https://login.chinacloudapi.cn".to_owned(),
            Cloud::Custom { login_host, .. } => normalize_host(login_host),
        }
    }

    /// The Microsoft Graph root as a URL without trailing slash and without version, e.g.
    /// `https://graph.microsoft.com`.
    pub fn graph_base(&self) -> String {
        match self {
            Cloud::Global => "https://graph.microsoft.com".to_owned(),
            Cloud::UsGovL4 => "https://graph.microsoft.us".to_owned(),
            Cloud::UsGovL5 => "https://dod-graph.microsoft.us".to_owned(),
            Cloud::China => "https://microsoftgraph.chinacloudapi.cn".to_owned(),
            Cloud::Custom { graph_host, .. } => normalize_host(graph_host),
        }
    }

    /// The resource Graph tokens are issued for (their audience): the Graph root of a
    /// built-in cloud, or a custom cloud's `graph_resource` (default: its Graph host).
    pub fn graph_resource(&self) -> String {
        match self {
            Cloud::Custom {
                graph_resource: Some(resource),
                ..
            } => resource.trim().trim_end_matches('/').to_owned(),
            _ => self.graph_base(),
        }
    }

    /// The OAuth 2.0 scope for application permissions on Graph: `{graph_resource}/.default`.
    pub fn graph_scope(&self) -> String {
        format!("{}/.default", self.graph_resource())
    }

    /// The audience a managed identity token must carry to be accepted as a federated
    /// credential by an app registration in this cloud (Microsoft's documented values:
    /// `api://AzureADTokenExchange`, `api://AzureADTokenExchangeUSGov`,
    /// `api://AzureADTokenExchangeChina`).
    pub fn token_exchange_audience(&self) -> String {
        match self {
            Cloud::Global => "api://AzureADTokenExchange".to_owned(),
            Cloud::UsGovL4 | Cloud::UsGovL5 => "api://AzureADTokenExchangeUSGov".to_owned(),
            Cloud::China => "api://AzureADTokenExchangeChina".to_owned(),
            Cloud::Custom {
                token_exchange_audience,
                ..
            } => token_exchange_audience
                .clone()
                .unwrap_or_else(|| "api://AzureADTokenExchange".to_owned()),
        }
    }

    /// The extra CA file to trust, if any (only custom clouds have one).
    pub fn ca_file(&self) -> Option<&Path> {
        match self {
            Cloud::Custom { ca_file, .. } => ca_file.as_deref(),
            _ => None,
        }
    }

    /// Checks that custom hosts parse as URLs. Built-in clouds are always valid.
    pub fn validate(&self) -> Result<(), CloudError> {
        if let Cloud::Custom {
            login_host,
            graph_host,
            ..
        } = self
        {
            check_host("login_host", login_host)?;
            check_host("graph_host", graph_host)?;
        }
        if let Cloud::Custom {
            graph_resource: Some(resource),
            ..
        } = self
        {
            check_resource(resource)?;
        }
        Ok(())
    }
}

fn normalize_host(host: &str) -> String {
    let host = host.trim().trim_end_matches('/');
    if host.contains("://") {
        host.to_owned()
    } else {
        format!("https://{host}")
    }
}

/// A resource becomes the scope `{resource}/.default`: it must be an absolute URI (a URL or an
/// application ID URI such as `api://...`) made of the characters a scope may hold.
fn check_resource(value: &str) -> Result<(), CloudError> {
    let bad = |reason| CloudError::BadResource {
        value: value.to_owned(),
        reason,
    };
    let trimmed = value.trim().trim_end_matches('/');
    if trimmed.is_empty() {
        return Err(bad("it is empty"));
    }
    if !trimmed.contains("://") {
        return Err(bad("it has no scheme"));
    }
    if !trimmed
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '/'))
    {
        return Err(bad(
            "only letters, digits and `.-_:/` are allowed in a token scope",
        ));
    }
    Ok(())
}

fn check_host(field: &'static str, value: &str) -> Result<(), CloudError> {
    let bad = |reason: String| CloudError::BadHost {
        field,
        value: value.to_owned(),
        reason,
    };
    if value.trim().is_empty() {
        return Err(bad("it is empty".to_owned()));
    }
    let url = url::Url::parse(&normalize_host(value)).map_err(|e| bad(e.to_string()))?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(bad(format!(
            "scheme `{}` is not http or https",
            url.scheme()
        )));
    }
    if url.host_str().is_none() {
        return Err(bad("it has no host".to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Job {
        cloud: Cloud,
    }

    #[test]
    fn endpoints_match_microsoft_deployments_table() {
        assert_eq!(
            Cloud::Global.graph_scope(),
            "https://graph.microsoft.com/.default"
        );
        assert_eq!(Cloud::UsGovL4.graph_base(), "https://graph.microsoft.us");
        assert_eq!(
            Cloud::UsGovL5.graph_base(),
            "https://dod-graph.microsoft.us"
        );
        assert_eq!(
            Cloud::UsGovL5.login_authority(),
            "https://login.microsoftonline.us"
        );
        assert_eq!(
            Cloud::China.graph_base(),
            "https://microsoftgraph.chinacloudapi.cn"
        );
        assert_eq!(
            Cloud::China.login_authority(),
            "https://login.chinacloudapi.cn"
        );
    }

    #[test]
    fn toml_names_are_lower_case() {
        let job: Job = toml::from_str("cloud = \"usgov-dod\"").expect("parse");
        assert_eq!(job.cloud, Cloud::UsGovL5);
        let job: Job = toml::from_str("cloud = \"usgov\"").expect("parse");
        assert_eq!(job.cloud, Cloud::UsGovL4);
        let job: Job = toml::from_str(
            "[cloud.custom]\nlogin_host = \"http://127.0.0.1:9000/\"\ngraph_host = \"graph.example.net\"\nca_file = \"/etc/ca.pem\"\n",
        )
        .expect("parse");
        assert_eq!(job.cloud.login_authority(), "http://127.0.0.1:9000");
        assert_eq!(job.cloud.graph_base(), "https://graph.example.net");
        assert_eq!(job.cloud.ca_file(), Some(Path::new("/etc/ca.pem")));
        assert!(job.cloud.validate().is_ok());
        assert!(toml::from_str::<Job>("cloud = \"Global\"").is_err());
    }

    #[test]
    fn graph_resource_defaults_to_the_graph_host_and_names_the_scope() {
        let job: Job = toml::from_str(
            "[cloud.custom]\nlogin_host = \"login.example.net\"\ngraph_host = \"graph-proxy.example.net\"\n",
        )
        .expect("parse");
        assert_eq!(
            job.cloud.graph_resource(),
            "https://graph-proxy.example.net"
        );
        assert_eq!(
            job.cloud.graph_scope(),
            "https://graph-proxy.example.net/.default"
        );
        let job: Job = toml::from_str(
            "[cloud.custom]\nlogin_host = \"login.example.net\"\ngraph_host = \"graph-proxy.example.net\"\ngraph_resource = \"https://graph.microsoft.com/\"\n",
        )
        .expect("parse");
        assert!(job.cloud.validate().is_ok());
        assert_eq!(job.cloud.graph_base(), "https://graph-proxy.example.net");
        assert_eq!(
            job.cloud.graph_scope(),
            "https://graph.microsoft.com/.default"
        );
        assert_eq!(
            Cloud::Global.graph_resource(),
            "https://graph.microsoft.com"
        );
        for bad in ["", "graph.microsoft.com", "https://graph microsoft.com"] {
            let cloud = Cloud::Custom {
                login_host: "login.example.net".into(),
                graph_host: "graph.example.net".into(),
                ca_file: None,
                token_exchange_audience: None,
                graph_resource: Some(bad.into()),
            };
            let err = cloud.validate().expect_err(bad).to_string();
            assert!(err.contains("graph_resource"), "{err}");
        }
    }

    #[test]
    fn bad_custom_host_is_reported() {
        let cloud = Cloud::Custom {
            login_host: "ftp://x".into(),
            graph_host: "graph".into(),
            ca_file: None,
            token_exchange_audience: None,
            graph_resource: None,
        };
        let err = cloud.validate().expect_err("ftp is refused");
        assert!(err.to_string().contains("login_host"), "{err}");
    }
}

//! The job configuration (`job.toml`): what a job synchronizes and how.
//!
//! Every key, its meaning and its default are in `docs/configuration.md`. Unknown keys are an
//! error, so a misspelt option never silently falls back to its default.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::plan::{PlanOptions, ScopeOptions};

/// A job configuration file.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobConfig {
    /// A name for people and logs. Default: the file name.
    #[serde(default)]
    pub name: Option<String>,
    /// The mapping schema file (Graph `synchronizationSchema` JSON), relative to this file.
    /// Default: the built-in cross-tenant schema.
    #[serde(default)]
    pub schema: Option<PathBuf>,
    /// Which source users and groups are assigned. Default: none (`mode = "assigned"`).
    #[serde(default)]
    pub scope: ScopeOptions,
    /// Planner options (groups, deprovisioning, deletion threshold, anchor attribute).
    #[serde(default)]
    pub options: PlanOptions,
    /// The directory holding the file, for relative paths.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// Why a job configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read job configuration {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The TOML is malformed, or a key is unknown or has the wrong type.
    #[error(
        "job configuration {path} is invalid: {message}(see docs/configuration.md for every key)"
    )]
    Toml {
        /// The file.
        path: String,
        /// What is wrong, with the line.
        message: String,
    },
}

impl JobConfig {
    /// Parses a configuration from TOML text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<JobConfig, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Toml {
            path: origin.to_string(),
            message: e.to_string(),
        })
    }

    /// Reads a configuration file.
    pub fn load(path: &Path) -> Result<JobConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let mut config = Self::from_toml(&text, &path.display().to_string())?;
        config.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(config)
    }

    /// The schema path resolved against the configuration's directory.
    pub fn schema_path(&self) -> Option<PathBuf> {
        self.schema.as_ref().map(|p| self.base_dir.join(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{NestedGroups, ScopeMode};

    #[test]
    fn reads_scope_and_options() {
        let c = JobConfig::from_toml(
            r#"
            name = "contoso to fabrikam"
            [scope]
            mode = "assigned"
            groups = ["g1"]
            [options]
            nested_groups = "flatten"
            deletion_threshold = 10
            "#,
            "job.toml",
        )
        .unwrap();
        assert_eq!(c.scope.mode, ScopeMode::Assigned);
        assert_eq!(c.scope.groups, vec!["g1"]);
        assert_eq!(c.options.nested_groups, NestedGroups::Flatten);
        assert_eq!(c.options.deletion_threshold, 10);
        assert_eq!(c.options.group_name_suffix, " (synced)");
    }

    #[test]
    fn unknown_keys_are_errors_that_name_them() {
        let err =
            JobConfig::from_toml("[options]\ndeletion_treshold = 5\n", "job.toml").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("deletion_treshold") && msg.contains("job.toml"),
            "{msg}"
        );
    }
}

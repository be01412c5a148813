//! Checks a schema the way an admin needs before running it: names that must match, mappings
//! the target cannot take, functions that do not exist, filters that cannot be evaluated.

use std::collections::HashMap;
use std::fmt;

use super::model::{
    AttributeMapping, FilterGroup, ObjectDefinition, ObjectMapping, SynchronizationSchema,
};
use crate::expr::{AttributeMappingSource, Expr, MappingSourceType, is_builtin, parse};
use crate::scope::{ClauseLocation, CompiledClause, ScopeError};

/// How serious a validation finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The schema cannot be run as written.
    Error,
    /// The schema runs, but probably not as intended.
    Warning,
}

/// One finding of [`validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationIssue {
    /// JSON path of the offending property, for example
    /// `$.synchronizationRules[0].objectMappings[1].attributeMappings[3].targetAttributeName`.
    pub path: String,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong and what to do.
    pub message: String,
}

impl ValidationIssue {
    /// True for an error (the schema cannot be run as written).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// True when any issue is an error.
pub fn has_errors(issues: &[ValidationIssue]) -> bool {
    issues.iter().any(ValidationIssue::is_error)
}

impl fmt::Display for ValidationIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{level} at {}: {}", self.path, self.message)
    }
}

/// Validates a schema allowing only built-in expression functions.
pub fn validate(schema: &SynchronizationSchema) -> Vec<ValidationIssue> {
    validate_with(schema, &[])
}

/// Validates a schema; `extra_functions` are the names of plugin functions that expressions may
/// call besides the built-ins.
pub fn validate_with(
    schema: &SynchronizationSchema,
    extra_functions: &[&str],
) -> Vec<ValidationIssue> {
    Validator::check(schema, extra_functions, &[])
}

/// Validates a schema against the functions of loaded plugins: each is `(name, fewest
/// arguments, most arguments)`, and a call with another number of arguments is an error.
pub fn validate_with_plugins(
    schema: &SynchronizationSchema,
    functions: &[(String, usize, usize)],
) -> Vec<ValidationIssue> {
    let names: Vec<&str> = functions.iter().map(|(n, _, _)| n.as_str()).collect();
    Validator::check(schema, &names, functions)
}

impl<'a> Validator<'a> {
    fn check(
        schema: &'a SynchronizationSchema,
        extra_functions: &'a [&'a str],
        arities: &'a [(String, usize, usize)],
    ) -> Vec<ValidationIssue> {
        let mut v = Validator {
            schema,
            extra_functions,
            arities,
            issues: Vec::new(),
            disabled: false,
        };
        v.run();
        v.issues
    }
}

struct Validator<'a> {
    schema: &'a SynchronizationSchema,
    extra_functions: &'a [&'a str],
    arities: &'a [(String, usize, usize)],
    issues: Vec<ValidationIssue>,
    /// The object mapping being checked is disabled: it never runs, so what would stop it from
    /// running is a warning, not an error (Entra keeps disabled mappings with empty names).
    disabled: bool,
}

impl<'a> Validator<'a> {
    /// A problem that stops the schema (or, in a disabled object mapping, only that mapping once
    /// enabled) from running.
    fn error(&mut self, path: String, message: String) {
        if self.disabled {
            self.warning(
                path,
                format!(
                    "{message} (the object mapping is disabled, so this matters only once it is enabled)"
                ),
            );
        } else {
            self.form_error(path, message);
        }
    }

    /// A problem with the document's form, an error whether or not the mapping is enabled: an
    /// unknown value of one of Graph's enumerations (`objectFlowTypes`, `attributeFlowType`,
    /// `attributeFlowBehavior`).
    fn form_error(&mut self, path: String, message: String) {
        self.issues.push(ValidationIssue {
            path,
            severity: Severity::Error,
            message,
        });
    }

    fn warning(&mut self, path: String, message: String) {
        self.issues.push(ValidationIssue {
            path,
            severity: Severity::Warning,
            message,
        });
    }

    fn directory_names(&self) -> String {
        let names: Vec<String> = self
            .schema
            .directories
            .iter()
            .filter(|d| !d.name.trim().is_empty())
            .map(|d| format!("'{}'", d.name))
            .collect();
        if names.is_empty() {
            "none; add the directory definitions".to_string()
        } else {
            names.join(", ")
        }
    }

    fn run(&mut self) {
        let schema = self.schema;
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (di, d) in schema.directories.iter().enumerate() {
            if d.name.trim().is_empty() {
                self.error(
                    format!("$.directories[{di}].name"),
                    "directory definition has no name (null or empty); name it, rules refer to directories by name".to_string(),
                );
                continue;
            }
            if let Some(first) = seen.insert(d.name.to_ascii_lowercase(), di) {
                self.error(
                    format!("$.directories[{di}].name"),
                    format!(
                        "directory name '{}' is also used by directories[{first}]; directory names must be unique",
                        d.name
                    ),
                );
            }
        }
        for (di, d) in schema.directories.iter().enumerate() {
            for (oi, o) in d.objects.iter().enumerate() {
                if o.name.trim().is_empty() {
                    self.error(
                        format!("$.directories[{di}].objects[{oi}].name"),
                        format!(
                            "object definition of directory '{}' has no name (null or empty); name it (for example 'User'), object mappings refer to objects by name",
                            d.name
                        ),
                    );
                    continue;
                }
                let anchors = o.attributes.iter().filter(|a| a.anchor).count();
                if anchors != 1 {
                    self.warning(
                        format!("$.directories[{di}].objects[{oi}].attributes"),
                        format!(
                            "object '{}' of directory '{}' has {anchors} anchor attributes; Graph expects exactly one (usually 'id')",
                            o.name, d.name
                        ),
                    );
                }
            }
        }
        for (ri, rule) in schema.synchronization_rules.iter().enumerate() {
            let rpath = format!("$.synchronizationRules[{ri}]");
            // A rule without a directory name names no directory, not a nameless one.
            let find = |name: &str| {
                if name.trim().is_empty() {
                    None
                } else {
                    schema.directory(name)
                }
            };
            let source_dir = find(&rule.source_directory_name);
            let target_dir = find(&rule.target_directory_name);
            if source_dir.is_none() {
                let known = self.directory_names();
                self.error(
                    format!("{rpath}.sourceDirectoryName"),
                    missing_or_unknown("source directory", &rule.source_directory_name, &known),
                );
            }
            if target_dir.is_none() {
                let known = self.directory_names();
                self.error(
                    format!("{rpath}.targetDirectoryName"),
                    missing_or_unknown("target directory", &rule.target_directory_name, &known),
                );
            }
            for (oi, om) in rule.object_mappings.iter().enumerate() {
                let opath = format!("{rpath}.objectMappings[{oi}]");
                self.disabled = !om.enabled;
                let source_obj = source_dir.and_then(|d| d.object(&om.source_object_name));
                let target_obj = target_dir.and_then(|d| d.object(&om.target_object_name));
                // Graph returns disabled object mappings with a null or empty sourceObjectName
                // and targetObjectName (Entra's own templates do): such a mapping names nothing
                // and is not checked against the directories.
                let unnamed = |name: &str| !om.enabled && name.trim().is_empty();
                if om.enabled && om.source_object_name.trim().is_empty() {
                    self.error(
                        format!("{opath}.sourceObjectName"),
                        format!(
                            "enabled object mapping{} has no sourceObjectName; name the source object (for example 'User') or set enabled to false",
                            display_name(&om.name)
                        ),
                    );
                } else if unnamed(&om.source_object_name) {
                } else if let (Some(d), None) = (source_dir, source_obj) {
                    self.error(
                        format!("{opath}.sourceObjectName"),
                        format!(
                            "object '{}' is not defined in source directory '{}' (defined: {}); use one of those objects or add its definition",
                            om.source_object_name,
                            d.name,
                            object_names(&d.objects)
                        ),
                    );
                }
                if om.enabled && om.target_object_name.trim().is_empty() {
                    self.error(
                        format!("{opath}.targetObjectName"),
                        format!(
                            "enabled object mapping{} has no targetObjectName; name the target object (for example 'User') or set enabled to false",
                            display_name(&om.name)
                        ),
                    );
                } else if unnamed(&om.target_object_name) {
                } else if let (Some(d), None) = (target_dir, target_obj) {
                    self.error(
                        format!("{opath}.targetObjectName"),
                        format!(
                            "object '{}' is not defined in target directory '{}' (defined: {}); use one of those objects or add its definition",
                            om.target_object_name,
                            d.name,
                            object_names(&d.objects)
                        ),
                    );
                }
                self.object_mapping(&opath, om, source_obj, target_obj);
                self.disabled = false;
            }
        }
    }

    fn object_mapping(
        &mut self,
        opath: &str,
        om: &ObjectMapping,
        source_obj: Option<&ObjectDefinition>,
        target_obj: Option<&ObjectDefinition>,
    ) {
        if !om.flow_types.unknown.is_empty() {
            self.form_error(
                format!("{opath}.flowTypes"),
                format!(
                    "unknown flow type(s) {}; use a comma-separated list of Add, Update, Delete",
                    quoted(&om.flow_types.unknown)
                ),
            );
        }
        let mut targets: HashMap<String, usize> = HashMap::new();
        let mut priorities: HashMap<i32, usize> = HashMap::new();
        for (ai, am) in om.attribute_mappings.iter().enumerate() {
            let apath = format!("{opath}.attributeMappings[{ai}]");
            self.attribute_mapping(&apath, am, source_obj, target_obj, &om.target_object_name);
            let key = am.target_attribute_name.to_ascii_lowercase();
            if let Some(first) = targets.insert(key, ai) {
                self.error(
                    format!("{apath}.targetAttributeName"),
                    format!(
                        "target attribute '{}' is already mapped by attributeMappings[{first}]; keep one mapping per target attribute",
                        am.target_attribute_name
                    ),
                );
            }
            if am.matching_priority > 0 {
                if let Some(first) = priorities.insert(am.matching_priority, ai) {
                    self.error(
                        format!("{apath}.matchingPriority"),
                        format!(
                            "matching priority {} is also used by attributeMappings[{first}]; give each matching attribute its own priority (1, 2, ...)",
                            am.matching_priority
                        ),
                    );
                }
            } else if am.matching_priority < 0 {
                self.error(
                    format!("{apath}.matchingPriority"),
                    format!(
                        "matching priority {} is negative; use 0 (not a matching attribute) or 1, 2, ...",
                        am.matching_priority
                    ),
                );
            }
        }
        // Users may already exist in the target (invited by hand as B2B users) and must be
        // matched rather than invited twice. Groups are not matched: like Entra, the engine
        // only manages groups it created, and re-finds them by the anchor it stores.
        if om.enabled
            && om.flow_types.add
            && priorities.is_empty()
            && om.target_object_name.eq_ignore_ascii_case("User")
        {
            self.warning(
                format!("{opath}.attributeMappings"),
                format!(
                    "object mapping{} has no matching attribute (matchingPriority above 0), so users who already exist in the target are never matched and get invited again; mark one mapping (usually mail) as a matching attribute",
                    display_name(&om.name)
                ),
            );
        }
        if let Some(target) = target_obj
            && om.enabled
            && om.flow_types.add
        {
            for attr in target.attributes.iter().filter(|a| a.required && !a.anchor) {
                let mapped = om
                    .attribute_mappings
                    .iter()
                    .any(|m| m.target_attribute_name.eq_ignore_ascii_case(&attr.name));
                if !mapped && attr.default_value.is_none() {
                    self.error(
                        format!("{opath}.attributeMappings"),
                        format!(
                            "target attribute '{}' of '{}' is required to create objects but no attribute mapping writes it; add a mapping (a Constant or a defaultValue will do)",
                            attr.name, target.name
                        ),
                    );
                }
            }
        }
        if let Some(scope) = &om.scope {
            let spath = format!("{opath}.scope");
            self.filter_groups(&format!("{spath}.groups"), &scope.groups, source_obj);
            self.filter_groups(
                &format!("{spath}.inputFilterGroups"),
                &scope.input_filter_groups,
                source_obj,
            );
            self.filter_groups(
                &format!("{spath}.categoryFilterGroups"),
                &scope.category_filter_groups,
                source_obj,
            );
        }
    }

    fn attribute_mapping(
        &mut self,
        apath: &str,
        am: &AttributeMapping,
        source_obj: Option<&ObjectDefinition>,
        target_obj: Option<&ObjectDefinition>,
        target_name: &str,
    ) {
        if am.target_attribute_name.trim().is_empty() {
            self.error(
                format!("{apath}.targetAttributeName"),
                "targetAttributeName is empty; name the target attribute this mapping writes"
                    .to_string(),
            );
        } else if let Some(t) = target_obj {
            match t.attribute(&am.target_attribute_name) {
                None => self.error(
                    format!("{apath}.targetAttributeName"),
                    format!(
                        "target object '{target_name}' has no attribute '{}'; fix the name or add the attribute to the target object definition",
                        am.target_attribute_name
                    ),
                ),
                Some(def) if def.mutability == super::Mutability::ReadOnly => self.warning(
                    format!("{apath}.targetAttributeName"),
                    format!(
                        "target attribute '{}' is ReadOnly in the target directory; writes to it will fail, remove the mapping",
                        def.name
                    ),
                ),
                Some(_) => {}
            }
        }
        if !am.flow_behavior.is_known() {
            self.form_error(
                format!("{apath}.flowBehavior"),
                format!(
                    "unknown flowBehavior '{}'; use FlowWhenChanged or FlowAlways",
                    am.flow_behavior
                ),
            );
        }
        if !am.flow_type.is_known() {
            self.form_error(
                format!("{apath}.flowType"),
                format!(
                    "unknown flowType '{}'; use one of {}",
                    am.flow_type,
                    super::FlowType::KNOWN.join(", ")
                ),
            );
        }
        if am.matching_priority > 0 && am.source.is_none() {
            self.error(
                format!("{apath}.source"),
                format!(
                    "'{}' is a matching attribute (matchingPriority {}) but has no source to match with; add a source or set matchingPriority to 0",
                    am.target_attribute_name, am.matching_priority
                ),
            );
        }
        if am.source.is_none() && am.default_value.is_none() {
            self.warning(
                format!("{apath}.source"),
                format!(
                    "mapping to '{}' has neither a source nor a defaultValue and never writes anything; add one or remove the mapping",
                    am.target_attribute_name
                ),
            );
        }
        if let Some(src) = &am.source {
            let spath = format!("{apath}.source");
            let before = self.issues.len();
            self.source_tree(&spath, src, source_obj);
            // The engine runs the tree; a tree whose nodes are each fine can still be no
            // expression (a parameter the function does not have, a comparison without `right`).
            if self.issues.len() == before
                && let Err(e) = Expr::from_mapping_source(src)
            {
                self.error(
                    spath.clone(),
                    format!("the source tree is not an expression: {e}"),
                );
            }
            if let Some(text) = src.expression.as_deref().filter(|t| !t.trim().is_empty())
                && let Err(e) = parse(text)
            {
                self.warning(
                    format!("{spath}.expression"),
                    format!(
                        "the expression text does not parse ({e}); the source tree is what runs, so fix the text to match it or set it to null"
                    ),
                );
            }
        }
    }

    fn source_tree(
        &mut self,
        path: &str,
        node: &AttributeMappingSource,
        source_obj: Option<&ObjectDefinition>,
    ) {
        let name = node.name.as_deref().unwrap_or("");
        match node.kind {
            MappingSourceType::Function => {
                if name.is_empty() {
                    self.error(
                        format!("{path}.name"),
                        "function node has no name; set name to the function called".to_string(),
                    );
                } else if !is_builtin(name) && !self.extra_functions.contains(&name) {
                    let hint = crate::expr::BUILTIN_FUNCTIONS
                        .iter()
                        .find(|f| f.eq_ignore_ascii_case(name))
                        .map(|f| format!("function names are case-sensitive, did you mean '{f}'?"))
                        .unwrap_or_else(|| {
                            "use a built-in function (see docs/expressions.md) or load the plugin that provides it".to_string()
                        });
                    self.error(
                        format!("{path}.name"),
                        format!("unknown function '{name}'; {hint}"),
                    );
                } else if let Some((_, min, max)) = self.arities.iter().find(|(n, _, _)| n == name)
                    && !(*min..=*max).contains(&node.parameters.len())
                {
                    self.error(
                        format!("{path}.parameters"),
                        format!(
                            "plugin function '{name}' takes {} arguments, found {}; see `tenantsync plugin check` for its parameters",
                            if min == max { min.to_string() } else { format!("{min} to {max}") },
                            node.parameters.len()
                        ),
                    );
                }
                for (pi, p) in node.parameters.iter().enumerate() {
                    self.source_tree(
                        &format!("{path}.parameters[{pi}].value"),
                        &p.value,
                        source_obj,
                    );
                }
            }
            MappingSourceType::Attribute => {
                if name.is_empty() {
                    self.error(
                        format!("{path}.name"),
                        "attribute node has no name; set name to the source attribute".to_string(),
                    );
                } else if let Some(obj) = source_obj
                    && obj.attribute(name).is_none()
                {
                    self.error(
                        format!("{path}.name"),
                        format!(
                            "source object '{}' has no attribute '{name}'; fix the name or add the attribute to the source object definition",
                            obj.name
                        ),
                    );
                }
            }
            MappingSourceType::Constant => {}
        }
    }

    fn filter_groups(
        &mut self,
        gpath: &str,
        groups: &[FilterGroup],
        source_obj: Option<&ObjectDefinition>,
    ) {
        for (gi, g) in groups.iter().enumerate() {
            for (ci, c) in g.clauses.iter().enumerate() {
                let cpath = format!("{gpath}[{gi}].clauses[{ci}]");
                let at = ClauseLocation {
                    group: gi + 1,
                    group_name: g.name.clone(),
                    clause: ci + 1,
                };
                if let Err(e) = CompiledClause::compile(c, at) {
                    let field = match &e {
                        ScopeError::UnknownOperator { .. } => "operatorName",
                        ScopeError::Arity { .. }
                        | ScopeError::BadRegex { .. }
                        | ScopeError::NotInteger { .. } => "targetOperand.values",
                        ScopeError::NoOperand { .. } => "sourceOperandName",
                    };
                    self.error(format!("{cpath}.{field}"), e.to_string());
                }
                if let Some(obj) = source_obj
                    && !c.source_operand_name.trim().is_empty()
                {
                    match obj.attribute(&c.source_operand_name) {
                        None => self.error(
                            format!("{cpath}.sourceOperandName"),
                            format!(
                                "source object '{}' has no attribute '{}' to filter on; fix the name or add the attribute to the source object definition",
                                obj.name, c.source_operand_name
                            ),
                        ),
                        Some(def) if def.multivalued => self.warning(
                            format!("{cpath}.sourceOperandName"),
                            format!(
                                "'{}' is multi-valued; Entra does not filter on multi-valued attributes, so this filter behaves differently there",
                                def.name
                            ),
                        ),
                        Some(_) => {}
                    }
                }
            }
        }
    }
}

fn object_names(objects: &[ObjectDefinition]) -> String {
    if objects.is_empty() {
        return "none".to_string();
    }
    objects
        .iter()
        .map(|o| format!("'{}'", o.name))
        .collect::<Vec<_>>()
        .join(", ")
}

fn quoted(items: &[String]) -> String {
    items
        .iter()
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `" 'name'"` for a named object mapping, nothing for an unnamed one (Graph writes `null`).
fn display_name(name: &str) -> String {
    if name.trim().is_empty() {
        String::new()
    } else {
        format!(" '{name}'")
    }
}

/// The message for a rule's directory name that names no directory.
fn missing_or_unknown(what: &str, name: &str, known: &str) -> String {
    if name.trim().is_empty() {
        format!(
            "the {what} name is missing (null or empty); use one of the directory names (defined: {known})"
        )
    } else {
        format!(
            "{what} '{name}' is not defined in directories (defined: {known}); use one of those names"
        )
    }
}

//! The transform stage: a schema's object mappings compiled once per run, then evaluated for
//! every in-scope source object into the attributes the target should have.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::model::Reason;
use crate::expr::{self, EvalContext, EvalError, Expr, FunctionRegistry};
use crate::plugin::PluginError;
use crate::schema::{
    AttributeMapping, FlowBehavior, FlowType, ObjectMapping, SynchronizationRule,
    SynchronizationSchema,
};
use crate::scope::CompiledFilter;
use crate::snapshot::DirectoryObject;
use crate::value::Value;

use super::PlanError;

/// How a mapping applies, from Graph's `flowType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Apply {
    /// On creation and every update.
    Always,
    /// Only when the object is created.
    ObjectAddOnly,
    /// Only while the target attribute is empty.
    AttributeAddOnly,
    /// Values are added to the target's, never removed.
    ValueAddOnly,
}

/// One attribute mapping, ready to evaluate.
#[derive(Debug)]
pub(crate) struct CompiledMapping {
    /// The target attribute.
    pub target: String,
    /// The value source; `None` means the mapping never flows a value.
    pub expr: Option<Expr>,
    /// `defaultValue`, used when the source evaluates to null.
    pub default_value: Option<String>,
    /// `FlowAlways`: written on every update of the object, changed or not.
    pub flow_always: bool,
    /// When the mapping applies.
    pub apply: Apply,
    /// `matchingPriority` (0: not a matching attribute).
    pub matching_priority: i32,
    /// The target attribute allows clearing (`flowNullValues`).
    pub flow_nulls: bool,
}

/// An object mapping (users or groups), ready to evaluate.
#[derive(Debug)]
pub(crate) struct CompiledObject {
    /// The attribute mappings, except `members`.
    pub mappings: Vec<CompiledMapping>,
    /// Matching mappings by ascending priority (indexes into `mappings`).
    pub matching: Vec<usize>,
    /// The scoping filter, when there is one.
    pub filter: Option<CompiledFilter>,
    /// flowTypes contains Add.
    pub add: bool,
    /// flowTypes contains Update.
    pub update: bool,
    /// flowTypes contains Delete.
    pub delete: bool,
    /// A mapping targets `members`: memberships are synchronized.
    pub members: bool,
}

impl CompiledObject {
    /// Compiles the enabled object mapping for `source_object` (`User`, `Group`); `None` when the
    /// schema has none (for groups: group sync is off).
    pub(super) fn compile(
        schema: &SynchronizationSchema,
        source_object: &str,
    ) -> Result<Option<CompiledObject>, PlanError> {
        let Some((rule, mapping)) = schema.object_mapping(source_object) else {
            return Ok(None);
        };
        let mut out = CompiledObject {
            mappings: Vec::new(),
            matching: Vec::new(),
            filter: None,
            add: mapping.flow_types.add,
            update: mapping.flow_types.update,
            delete: mapping.flow_types.delete,
            members: false,
        };
        if let Some(scope) = &mapping.scope {
            out.filter = Some(
                CompiledFilter::compile(scope).map_err(|e| PlanError::Schema {
                    message: format!("the {source_object} scoping filter is invalid: {e}"),
                })?,
            );
        }
        for (i, am) in mapping.attribute_mappings.iter().enumerate() {
            if am.target_attribute_name.eq_ignore_ascii_case("members") {
                out.members = am.source.is_some();
                continue;
            }
            out.mappings.push(compile_mapping(
                schema,
                rule,
                mapping,
                am,
                i,
                source_object,
            )?);
        }
        let mut matching: Vec<usize> = (0..out.mappings.len())
            .filter(|&i| out.mappings[i].matching_priority > 0)
            .collect();
        matching.sort_by_key(|&i| out.mappings[i].matching_priority);
        out.matching = matching;
        Ok(Some(out))
    }

    /// Evaluates the scoping filter; `Some(reason)` when the object is out of scope.
    pub(super) fn out_of_scope(&self, object: &DirectoryObject) -> Option<String> {
        let filter = self.filter.as_ref()?;
        let get = |name: &str| object.get(name);
        filter.explain(&get)
    }
}

fn compile_mapping(
    schema: &SynchronizationSchema,
    rule: &SynchronizationRule,
    mapping: &ObjectMapping,
    am: &AttributeMapping,
    index: usize,
    source_object: &str,
) -> Result<CompiledMapping, PlanError> {
    let expr = match &am.source {
        Some(src) => Some(
            Expr::from_mapping_source(src).map_err(|e| PlanError::Schema {
                message: format!(
                    "the {source_object} mapping #{index} to {} has an invalid source: {e}",
                    am.target_attribute_name
                ),
            })?,
        ),
        None => None,
    };
    let definition = schema.target_attribute(rule, mapping, &am.target_attribute_name);
    Ok(CompiledMapping {
        target: am.target_attribute_name.clone(),
        expr,
        default_value: am.default_value.clone().filter(|d| !d.is_empty()),
        flow_always: am.flow_behavior == FlowBehavior::FlowAlways,
        apply: match am.flow_type {
            FlowType::ObjectAddOnly => Apply::ObjectAddOnly,
            FlowType::AttributeAddOnly => Apply::AttributeAddOnly,
            FlowType::ValueAddOnly | FlowType::MultiValueAddOnly => Apply::ValueAddOnly,
            _ => Apply::Always,
        },
        matching_priority: am.matching_priority,
        flow_nulls: definition.is_some_and(|d| d.flow_null_values),
    })
}

/// The evaluated value of one mapping for one object.
#[derive(Debug, Clone)]
pub(crate) struct Desired {
    /// The value, after `defaultValue`; `None` when the expression says it does not flow.
    pub value: Option<Value>,
    /// `Redact()` was used.
    pub redact: bool,
}

/// Values already present in the target, per attribute, for `SelectUniqueValue`. Built lazily.
#[derive(Debug)]
pub(crate) struct TargetValues<'a> {
    objects: &'a [DirectoryObject],
    cache: RefCell<HashMap<String, HashSet<String>>>,
}

impl<'a> TargetValues<'a> {
    pub(super) fn new(objects: &'a [DirectoryObject]) -> Self {
        TargetValues {
            objects,
            cache: RefCell::new(HashMap::new()),
        }
    }

    fn contains(&self, attribute: &str, value: &str) -> bool {
        let mut cache = self.cache.borrow_mut();
        let set = cache.entry(attribute.to_string()).or_insert_with(|| {
            self.objects
                .iter()
                .flat_map(|o| o.get(attribute).as_list())
                .filter_map(|v| v.as_text())
                .map(|s| s.to_lowercase())
                .collect()
        });
        set.contains(&value.to_lowercase())
    }
}

/// What an evaluation needs besides the object.
pub(crate) struct Evaluator<'a> {
    pub as_of: DateTime<Utc>,
    pub functions: Option<&'a dyn FunctionRegistry>,
    pub target_values: TargetValues<'a>,
    pub default_domain: Option<String>,
    /// Set when an expression read the time (`as_of`): the plan then depends on it.
    pub clock_read: std::sync::atomic::AtomicBool,
    /// Set when an expression asked whether a value exists in the target: the object's
    /// values then depend on every target object.
    pub target_read: std::sync::atomic::AtomicBool,
}

struct ObjectContext<'a, 'b> {
    object: &'a DirectoryObject,
    target_attribute: &'a str,
    evaluator: &'a Evaluator<'b>,
}

impl EvalContext for ObjectContext<'_, '_> {
    fn attribute(&self, name: &str) -> Value {
        self.object.get(name)
    }

    fn now(&self) -> DateTime<Utc> {
        self.evaluator
            .clock_read
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.evaluator.as_of
    }

    fn random_seed(&self) -> u64 {
        // Deterministic per object and attribute, so the same input gives the same plan.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.object.id.bytes().chain(self.target_attribute.bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h
    }

    fn value_exists_in_target(&self, value: &str) -> bool {
        self.evaluator
            .target_read
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.evaluator
            .target_values
            .contains(self.target_attribute, value)
    }

    fn functions(&self) -> Option<&dyn FunctionRegistry> {
        self.evaluator.functions
    }

    fn default_domain(&self) -> Option<String> {
        self.evaluator.default_domain.clone()
    }
}

impl Evaluator<'_> {
    /// Evaluates one mapping for one object, applying `defaultValue`.
    pub(super) fn evaluate(
        &self,
        object: &DirectoryObject,
        mapping: &CompiledMapping,
    ) -> Result<Desired, EvalError> {
        let Some(e) = &mapping.expr else {
            return Ok(Desired {
                value: None,
                redact: false,
            });
        };
        let ctx = ObjectContext {
            object,
            target_attribute: &mapping.target,
            evaluator: self,
        };
        let out = expr::evaluate(e, &ctx)?;
        let value = out.value.map(|v| match (&v, &mapping.default_value) {
            (v, Some(d)) if v.is_null() => Value::String(d.clone()),
            _ => v,
        });
        Ok(Desired {
            value,
            redact: out.redact,
        })
    }

    /// Evaluates every mapping of an object; the first error names the attribute.
    pub(super) fn evaluate_all(
        &self,
        object: &DirectoryObject,
        compiled: &CompiledObject,
    ) -> Result<Vec<Desired>, EvalFailure> {
        compiled
            .mappings
            .iter()
            .map(|m| {
                self.evaluate(object, m).map_err(|e| EvalFailure {
                    reason: match &e {
                        EvalError::Plugin { error, .. } => plugin_reason(error),
                        _ => Reason::EvaluationError,
                    },
                    message: format!("mapping to {} failed: {e}", m.target),
                })
            })
            .collect()
    }
}

/// Why an object's mappings could not be evaluated: the report's reason (one per kind of
/// plugin failure, typed end to end) and the message.
pub(crate) struct EvalFailure {
    pub reason: Reason,
    pub message: String,
}

/// The report reason of a plugin failure.
fn plugin_reason(e: &PluginError) -> Reason {
    match e {
        PluginError::Timeout { .. } => Reason::PluginTimeout,
        PluginError::OutOfFuel { .. } => Reason::PluginOutOfFuel,
        PluginError::OutOfMemory { .. } => Reason::PluginOutOfMemory,
        PluginError::Trap { .. } => Reason::PluginTrap,
        PluginError::BadOutput { .. } => Reason::PluginBadOutput,
        PluginError::NotFound { .. } => Reason::PluginNotFound,
        PluginError::InvalidArgument { .. } => Reason::PluginInvalidArgument,
        PluginError::Failed { .. } => Reason::PluginFailed,
    }
}

//! The evaluator: an [`Expr`] and an [`EvalContext`] (the source object's attributes, the "as
//! of" time, a random seed, the target's existing values, plugin functions) to a value.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rand::SeedableRng;
use rand::rngs::StdRng;
use thiserror::Error;

use super::ast::{CompareOp, Expr};
use super::signature::{Signature, signature};
use crate::plugin::PluginError;
use crate::value::{Value, format_entra_datetime};

/// The longest text (in bytes of UTF-8) a function may return, or a list of texts may hold in
/// all: 1 MiB, far beyond any Entra attribute. A longer result is [`EvalError::TooLong`], so that
/// nested calls that each multiply their input (`Replace`, `Join`, `ConvertToUTF8Hex`) cannot
/// exhaust memory.
pub const MAX_VALUE_BYTES: usize = 1 << 20;

/// What an expression is evaluated against.
pub trait EvalContext {
    /// The source object's attribute `name`; [`Value::Null`] when absent.
    fn attribute(&self, name: &str) -> Value;
    /// The current time for `Now()`; the planner passes a fixed "as of" time.
    fn now(&self) -> DateTime<Utc>;
    /// The seed for `Guid()` and `RandomString()`: the same seed gives the same values, so give
    /// each object its own seed (for example one derived from its id and the run), or every
    /// object gets the same GUID.
    fn random_seed(&self) -> u64;
    /// True when `value` is already taken in the target (for `SelectUniqueValue`).
    fn value_exists_in_target(&self, _value: &str) -> bool {
        false
    }
    /// Functions provided by plugins, resolved after the built-in ones.
    fn functions(&self) -> Option<&dyn FunctionRegistry> {
        None
    }
    /// The target tenant's default domain for `DefaultDomain()`, when known.
    fn default_domain(&self) -> Option<String> {
        None
    }
}

/// Functions provided outside the language (WebAssembly plugins), called by exact name.
pub trait FunctionRegistry: Send + Sync {
    /// True when the registry provides `name`.
    fn contains(&self, name: &str) -> bool;
    /// The fewest and most arguments `name` accepts, when the registry knows them: a call
    /// outside the range fails with [`EvalError::Arity`] before any argument is evaluated.
    fn arity(&self, _name: &str) -> Option<(usize, usize)> {
        None
    }
    /// Calls `name`; empty optional arguments arrive as [`Value::Null`].
    fn call(&self, name: &str, args: &[Value]) -> Result<Value, PluginError>;
}

/// The result of an evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluated {
    /// The value; `None` when the attribute does not flow (`IgnoreFlowIfNullOrEmpty`).
    pub value: Option<Value>,
    /// True when the value must appear as `[Redact]` in logs (`Redact`).
    pub redact: bool,
}

/// Why an expression could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EvalError {
    /// No built-in function and no plugin has this name.
    #[error("unknown function {name}{}", match suggestion {
        Some(s) => format!("; function names are case-sensitive, did you mean {s}?"),
        None => "; it is not built in and no loaded plugin provides it (check the spelling or load the plugin)".to_string(),
    })]
    UnknownFunction {
        /// The name as written.
        name: String,
        /// A built-in function with the same name in another case.
        suggestion: Option<String>,
    },
    /// Wrong number of arguments.
    #[error(
        "{function} takes {expected} arguments, found {found}; see docs/expressions.md for its parameters"
    )]
    Arity {
        /// The function.
        function: String,
        /// The accepted count, in words (`2`, `1 to 2`, `at least 2`).
        expected: String,
        /// The count given.
        found: usize,
    },
    /// A required argument was left empty.
    #[error("{function}: the required argument {parameter} is empty; give it a value")]
    MissingArgument {
        /// The function.
        function: String,
        /// The parameter's name.
        parameter: String,
    },
    /// An argument has a value the function cannot use.
    #[error("{function}: {message}")]
    InvalidArgument {
        /// The function.
        function: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A plugin function failed.
    #[error("{error}")]
    Plugin {
        /// The function.
        function: String,
        /// Why, typed (timeout, out of fuel, trap, ...).
        error: PluginError,
    },
    /// Every `SelectUniqueValue` candidate is taken in the target.
    #[error("SelectUniqueValue: every candidate already exists in the target ({}); add a rule that yields another value", candidates.join(", "))]
    NoUniqueValue {
        /// The candidates, in rule order.
        candidates: Vec<String>,
    },
    /// A function that must be the whole expression was nested.
    #[error(
        "{function} must be the whole expression, not an argument of another function; move it to the top level"
    )]
    NotTopLevel {
        /// The function.
        function: String,
    },
    /// `DefaultDomain()` without a known domain.
    #[error(
        "DefaultDomain: the target tenant's default domain is not known here; write the domain as a string constant instead"
    )]
    NoDefaultDomain,
    /// A value would grow beyond [`MAX_VALUE_BYTES`].
    #[error(
        "{function}: the result would be longer than {MAX_VALUE_BYTES} bytes; shorten its input or simplify the expression"
    )]
    TooLong {
        /// The function whose result is too long.
        function: String,
    },
    /// A bare name that is not a known constant.
    #[error(
        "unknown name {name}; put text in double quotes (\"{name}\") or use vbTextCompare, vbBinaryCompare, True or False"
    )]
    UnknownIdentifier {
        /// The name.
        name: String,
    },
}

/// A map of attribute values as an [`EvalContext`]: `now` is the current time, the seed is 0,
/// nothing exists in the target. Names match exactly first, then ignoring ASCII case.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AttributeMap(pub BTreeMap<String, Value>);

impl AttributeMap {
    /// Reads attributes from a JSON object (`{"mail": "a@b", "proxyAddresses": ["x", "y"]}`).
    pub fn from_json(v: &serde_json::Value) -> Option<AttributeMap> {
        let obj = v.as_object()?;
        Some(AttributeMap(
            obj.iter()
                .map(|(k, v)| (k.clone(), Value::from_json(v)))
                .collect(),
        ))
    }

    fn get(&self, name: &str) -> Value {
        if let Some(v) = self.0.get(name) {
            return v.clone();
        }
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .unwrap_or(Value::Null)
    }
}

impl EvalContext for AttributeMap {
    fn attribute(&self, name: &str) -> Value {
        self.get(name)
    }
    fn now(&self) -> DateTime<Utc> {
        crate::clock::Clock::now(&crate::clock::SystemClock)
    }
    fn random_seed(&self) -> u64 {
        0
    }
}

/// A fully specified [`EvalContext`] for tests, the CLI and previews: attributes, a fixed time,
/// a seed, the values taken in the target, the default domain and plugin functions.
#[derive(Clone)]
pub struct StaticContext {
    /// The source attributes.
    pub attributes: AttributeMap,
    /// The time `Now()` returns.
    pub now: DateTime<Utc>,
    /// The random seed.
    pub seed: u64,
    /// Values already taken in the target (compared ignoring ASCII case).
    pub existing: BTreeSet<String>,
    /// The target's default domain.
    pub default_domain: Option<String>,
    /// Plugin functions.
    pub functions: Option<Arc<dyn FunctionRegistry>>,
}

impl StaticContext {
    /// A context with these attributes at time `now`, seed 0, nothing else.
    pub fn new(attributes: AttributeMap, now: DateTime<Utc>) -> Self {
        StaticContext {
            attributes,
            now,
            seed: 0,
            existing: BTreeSet::new(),
            default_domain: None,
            functions: None,
        }
    }
}

impl fmt::Debug for StaticContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticContext")
            .field("attributes", &self.attributes)
            .field("now", &self.now)
            .field("seed", &self.seed)
            .field("existing", &self.existing)
            .field("default_domain", &self.default_domain)
            .field("functions", &self.functions.is_some())
            .finish()
    }
}

impl EvalContext for StaticContext {
    fn attribute(&self, name: &str) -> Value {
        self.attributes.get(name)
    }
    fn now(&self) -> DateTime<Utc> {
        self.now
    }
    fn random_seed(&self) -> u64 {
        self.seed
    }
    fn value_exists_in_target(&self, value: &str) -> bool {
        self.existing.iter().any(|v| v.eq_ignore_ascii_case(value))
    }
    fn functions(&self) -> Option<&dyn FunctionRegistry> {
        self.functions.as_deref()
    }
    fn default_domain(&self) -> Option<String> {
        self.default_domain.clone()
    }
}

/// Evaluates `expr` against `ctx`.
///
/// Functions resolve to the built-ins first (exact, case-sensitive names), then to
/// `ctx.functions()`. A date result is returned as Entra writes dates, `M/d/yyyy h:mm:ss tt`
/// (UTC). `value` is `None` when `IgnoreFlowIfNullOrEmpty` found nothing to flow.
pub fn evaluate(expr: &Expr, ctx: &dyn EvalContext) -> Result<Evaluated, EvalError> {
    let mut ev = Evaluator {
        ctx,
        redact: false,
        ignore_flow: false,
        rng: None,
    };
    let v = ev.eval(expr, true)?;
    Ok(Evaluated {
        value: if ev.ignore_flow {
            None
        } else {
            Some(finish(v))
        },
        redact: ev.redact,
    })
}

fn finish(v: Value) -> Value {
    match v {
        Value::DateTime(d) => Value::String(format_entra_datetime(&d)),
        Value::Multi(items) => Value::Multi(items.into_iter().map(finish).collect()),
        other => other,
    }
}

pub(super) struct Evaluator<'a> {
    pub(super) ctx: &'a dyn EvalContext,
    pub(super) redact: bool,
    pub(super) ignore_flow: bool,
    pub(super) rng: Option<StdRng>,
}

/// Arguments of one call, with the function's signature for messages.
pub(super) struct Args<'e> {
    pub(super) sig: &'static Signature,
    pub(super) args: &'e [Option<Expr>],
}

impl Args<'_> {
    pub(super) fn present(&self, i: usize) -> bool {
        self.args.get(i).is_some_and(Option::is_some)
    }
    pub(super) fn len(&self) -> usize {
        self.args.len()
    }
    pub(super) fn name(&self) -> &'static str {
        self.sig.name
    }
    pub(super) fn param(&self, i: usize) -> String {
        super::signature::parameter_key(self.sig.name, i, self.args.len())
    }
    pub(super) fn invalid(&self, message: impl Into<String>) -> EvalError {
        EvalError::InvalidArgument {
            function: self.sig.name.to_string(),
            message: message.into(),
        }
    }
}

impl Evaluator<'_> {
    pub(super) fn eval(&mut self, e: &Expr, top: bool) -> Result<Value, EvalError> {
        match e {
            Expr::Attribute(name) => Ok(self.ctx.attribute(name)),
            Expr::String(s) => Ok(Value::String(s.clone())),
            Expr::Number(n) => Ok(Value::Number(*n)),
            Expr::Identifier(name) => identifier(name),
            Expr::Compare { op, left, right } => {
                let l = self.eval(left, false)?;
                let r = self.eval(right, false)?;
                Ok(Value::Bool(compare(*op, &l, &r, &self.ctx.now())))
            }
            Expr::Call { name, args } => self.call(name, args, top),
        }
    }

    /// Evaluates required argument `i`.
    pub(super) fn arg(&mut self, a: &Args<'_>, i: usize) -> Result<Value, EvalError> {
        match a.args.get(i) {
            Some(Some(e)) => self.eval(e, false),
            _ => Err(EvalError::MissingArgument {
                function: a.name().to_string(),
                parameter: a.param(i),
            }),
        }
    }

    /// Evaluates optional argument `i`; `None` when it is omitted.
    pub(super) fn opt(&mut self, a: &Args<'_>, i: usize) -> Result<Option<Value>, EvalError> {
        match a.args.get(i) {
            Some(Some(e)) => self.eval(e, false).map(Some),
            _ => Ok(None),
        }
    }

    fn call(&mut self, name: &str, args: &[Option<Expr>], top: bool) -> Result<Value, EvalError> {
        let Some(sig) = signature(name) else {
            return self.plugin(name, args);
        };
        let n = args.len();
        let too_many = sig.max_args.is_some_and(|m| n > m);
        let odd_switch = sig.name == "Switch" && n % 2 == 1;
        if n < sig.min_args || too_many || odd_switch {
            let expected = match (sig.max_args, sig.name) {
                (_, "Switch") => "an even number of (at least 4)".to_string(),
                (Some(m), _) if m == sig.min_args => m.to_string(),
                (Some(m), _) => format!("{} to {m}", sig.min_args),
                (None, _) => format!("at least {}", sig.min_args),
            };
            return Err(EvalError::Arity {
                function: sig.name.to_string(),
                expected,
                found: n,
            });
        }
        let a = Args { sig, args };
        let value = self.builtin(&a, top)?;
        check_size(sig.name, value)
    }

    fn plugin(&mut self, name: &str, args: &[Option<Expr>]) -> Result<Value, EvalError> {
        let ctx = self.ctx;
        let Some(reg) = ctx.functions().filter(|r| r.contains(name)) else {
            let suggestion = super::BUILTIN_FUNCTIONS
                .iter()
                .find(|b| b.eq_ignore_ascii_case(name))
                .map(|b| b.to_string());
            return Err(EvalError::UnknownFunction {
                name: name.to_string(),
                suggestion,
            });
        };
        if let Some((min, max)) = reg.arity(name)
            && (args.len() < min || args.len() > max)
        {
            return Err(EvalError::Arity {
                function: name.to_string(),
                expected: if min == max {
                    min.to_string()
                } else {
                    format!("{min} to {max}")
                },
                found: args.len(),
            });
        }
        let mut values = Vec::with_capacity(args.len());
        for a in args {
            values.push(match a {
                Some(e) => self.eval(e, false)?,
                None => Value::Null,
            });
        }
        let value = reg.call(name, &values).map_err(|error| EvalError::Plugin {
            function: name.to_string(),
            error,
        })?;
        check_size(name, value)
    }

    pub(super) fn rng(&mut self) -> &mut StdRng {
        let seed = self.ctx.random_seed();
        self.rng.get_or_insert_with(|| StdRng::seed_from_u64(seed))
    }
}

/// `value`, or [`EvalError::TooLong`] when its text is longer than [`MAX_VALUE_BYTES`].
fn check_size(function: &str, value: Value) -> Result<Value, EvalError> {
    let size = match &value {
        Value::String(s) | Value::Reference(s) => s.len(),
        Value::Multi(items) => items
            .iter()
            .map(|i| match i {
                Value::String(s) | Value::Reference(s) => s.len(),
                _ => 0,
            })
            .sum(),
        _ => 0,
    };
    if size > MAX_VALUE_BYTES {
        return Err(too_long(function));
    }
    Ok(value)
}

/// [`EvalError::TooLong`] for `function`.
pub(super) fn too_long(function: &str) -> EvalError {
    EvalError::TooLong {
        function: function.to_string(),
    }
}

fn identifier(name: &str) -> Result<Value, EvalError> {
    match name {
        "True" | "true" => Ok(Value::Bool(true)),
        "False" | "false" => Ok(Value::Bool(false)),
        "vbBinaryCompare" => Ok(Value::Number(0)),
        "vbTextCompare" => Ok(Value::Number(1)),
        "Nothing" | "Null" => Ok(Value::Null),
        _ => Err(EvalError::UnknownIdentifier {
            name: name.to_string(),
        }),
    }
}

/// The text of a value without copying strings; a list gives its first value.
pub(super) fn text(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::Null => None,
        Value::String(s) | Value::Reference(s) => Some(Cow::Borrowed(s)),
        Value::Multi(items) => items.first().and_then(text),
        other => other.as_text().map(Cow::Owned),
    }
}

/// A whole number from a number or numeric text (`42`, ` -3 `, `7.0`, `&HFF`).
pub(super) fn number(v: &Value) -> Option<Result<i64, ()>> {
    match v {
        Value::Null => None,
        Value::Number(n) => Some(Ok(*n)),
        Value::Multi(items) => items.first().and_then(number),
        Value::String(s) | Value::Reference(s) => {
            let t = s.trim();
            if t.is_empty() {
                return None;
            }
            Some(parse_number(t).ok_or(()))
        }
        Value::Bool(_) | Value::DateTime(_) => Some(Err(())),
    }
}

fn parse_number(t: &str) -> Option<i64> {
    if let Ok(n) = t.parse::<i64>() {
        return Some(n);
    }
    if let Some(hex) = t.strip_prefix("&H").or_else(|| t.strip_prefix("&h")) {
        return i64::from_str_radix(hex, 16).ok();
    }
    let f: f64 = t.parse().ok()?;
    (f.fract() == 0.0 && f.is_finite() && f.abs() < 9.2e18).then_some(f as i64)
}

/// True/false from a boolean, a number (non-zero is true) or the text `True`/`False`
/// (any case) or a number; `None` for anything else. Null is false.
pub(super) fn truthy(v: &Value) -> Option<bool> {
    match v {
        Value::Null => Some(false),
        Value::Bool(b) => Some(*b),
        Value::Number(n) => Some(*n != 0),
        Value::Multi(items) => items.first().map_or(Some(false), truthy),
        Value::String(s) | Value::Reference(s) => {
            let t = s.trim();
            if t.eq_ignore_ascii_case("true") {
                Some(true)
            } else if t.eq_ignore_ascii_case("false") || t.is_empty() {
                Some(false)
            } else {
                parse_number(t).map(|n| n != 0)
            }
        }
        Value::DateTime(_) => None,
    }
}

/// A comparison as `IIF` and `CBool` make it: booleans against booleans, numbers numerically
/// (`=`/`<>` between two texts compare the texts), dates by time, everything else as
/// case-sensitive text. Null equals only null and is neither
/// greater nor less than anything.
pub(super) fn compare(op: CompareOp, l: &Value, r: &Value, now: &DateTime<Utc>) -> bool {
    use std::cmp::Ordering;
    let null_l = l.is_null_or_empty() && !matches!(l, Value::String(_));
    let null_r = r.is_null_or_empty() && !matches!(r, Value::String(_));
    if null_l || null_r {
        return match op {
            CompareOp::Eq => null_l && null_r,
            CompareOp::Ne => !(null_l && null_r),
            _ => false,
        };
    }
    // Two texts are equal only as texts ("007" is not "7"); a number on either side, or an
    // ordering, compares numerically when both sides are numbers.
    let numeric = matches!(l, Value::Number(_))
        || matches!(r, Value::Number(_))
        || !matches!(op, CompareOp::Eq | CompareOp::Ne);
    let ord: Option<Ordering> = if matches!(l, Value::Bool(_)) || matches!(r, Value::Bool(_)) {
        match (truthy(l), truthy(r)) {
            (Some(a), Some(b)) => Some(a.cmp(&b)),
            _ => None,
        }
    } else if let (true, Some(Ok(a)), Some(Ok(b))) = (numeric, number(l), number(r)) {
        Some(a.cmp(&b))
    } else if matches!(l, Value::DateTime(_)) || matches!(r, Value::DateTime(_)) {
        let date = |v: &Value| match v {
            Value::DateTime(d) => Some(*d),
            other => text(other).and_then(|t| super::datetime::parse_lenient(&t, now)),
        };
        match (date(l), date(r)) {
            (Some(a), Some(b)) => Some(a.cmp(&b)),
            _ => None,
        }
    } else {
        match (text(l), text(r)) {
            (Some(a), Some(b)) => Some(a.cmp(&b)),
            _ => None,
        }
    };
    match (op, ord) {
        (CompareOp::Eq, Some(o)) => o == Ordering::Equal,
        (CompareOp::Ne, Some(o)) => o != Ordering::Equal,
        (CompareOp::Gt, Some(o)) => o == Ordering::Greater,
        (CompareOp::Ge, Some(o)) => o != Ordering::Less,
        (CompareOp::Lt, Some(o)) => o == Ordering::Less,
        (CompareOp::Le, Some(o)) => o != Ordering::Greater,
        (CompareOp::Ne, None) => true,
        (_, None) => false,
    }
}

//! Write tenantsync attribute transforms as plain Rust functions.
//!
//! ```ignore
//! use tenantsync_plugin::plugin;
//!
//! /// Replaces the domain of a user principal name.
//! fn rewrite_suffix(upn: String, domain: String) -> String {
//!     match upn.split_once('@') {
//!         Some((local, _)) => format!("{local}@{domain}"),
//!         None => upn,
//!     }
//! }
//!
//! plugin! {
//!     name: "upn-suffix",
//!     version: "0.1.0",
//!     functions: {
//!         "RewriteUpnSuffix"(upn, domain) => rewrite_suffix,
//!             "Replaces the domain of a user principal name.",
//!     }
//! }
//! ```
//!
//! Build with `cargo build --target wasm32-wasip2 --release`; the `.wasm` file in
//! `target/wasm32-wasip2/release/` is the plugin. Parameters may be `String`, `&str`, `bool`,
//! `i64`, `Vec<String>`, [`Timestamp`], [`Value`], or an `Option` of any of these (an `Option`
//! parameter accepts null; trailing `Option` parameters may be left out in expressions). A
//! `&str` parameter borrows the argument where the engine put it, without a copy: the cheapest
//! kind. A function returns one of these types (but `&str`), or a `Result` of one whose error is
//! a [`CallError`] or a `String`.
//!
//! The SDK targets the contract `tenantsync:transform@0.2.0` (`plugins/wit/transform.wit`): the
//! engine names the function by its index and packs the arguments into one byte list, which
//! [`Args`] decodes.
//!
//! A plugin has no files, network, environment, clock or randomness, and must be deterministic:
//! the same arguments give the same answer. See docs/plugins.md in the tenantsync repository.

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "transform",
        pub_export_macro: true,
        export_macro_name: "__export_transform",
        default_bindings_module: "tenantsync_plugin::bindings",
    });
}

pub use bindings::tenantsync::transform::types::{
    CallError, FunctionInfo, PluginInfo, Timestamp, Value,
};

mod packed;
pub use packed::{Arg, Args, DecodeError, Strings, encode};

/// Converts one argument into a parameter type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a plugin function parameter",
    label = "this parameter type is not supported",
    note = "use String, bool, i64, Vec<String>, tenantsync_plugin::Timestamp or tenantsync_plugin::Value, or an Option of one of them to accept null"
)]
pub trait FromValue: Sized {
    /// True for `Option` types: the parameter accepts null and may be left out at the end.
    const OPTIONAL: bool = false;
    /// The type's name in error messages.
    const EXPECTED: &'static str;
    /// Converts `value`, or `None` when it has another type.
    fn from_value(value: Value) -> Option<Self>;
}

impl FromValue for String {
    const EXPECTED: &'static str = "a string";
    fn from_value(value: Value) -> Option<Self> {
        match value {
            Value::Text(s) => Some(s),
            Value::Multi(v) => v.into_iter().next(),
            Value::Number(n) => Some(n.to_string()),
            Value::Boolean(b) => Some(if b { "True" } else { "False" }.to_string()),
            _ => None,
        }
    }
}

impl FromValue for bool {
    const EXPECTED: &'static str = "a boolean";
    fn from_value(value: Value) -> Option<Self> {
        match value {
            Value::Boolean(b) => Some(b),
            Value::Text(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Value::Text(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        }
    }
}

impl FromValue for i64 {
    const EXPECTED: &'static str = "a whole number";
    fn from_value(value: Value) -> Option<Self> {
        match value {
            Value::Number(n) => Some(n),
            Value::Text(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

impl FromValue for Vec<String> {
    const EXPECTED: &'static str = "a list of strings";
    fn from_value(value: Value) -> Option<Self> {
        match value {
            Value::Multi(v) => Some(v),
            Value::Text(s) => Some(vec![s]),
            _ => None,
        }
    }
}

impl FromValue for Timestamp {
    const EXPECTED: &'static str = "a date";
    fn from_value(value: Value) -> Option<Self> {
        match value {
            Value::Datetime(t) => Some(t),
            _ => None,
        }
    }
}

impl FromValue for Value {
    const EXPECTED: &'static str = "any value";
    fn from_value(value: Value) -> Option<Self> {
        Some(value)
    }
}

impl<T: FromValue> FromValue for Option<T> {
    const OPTIONAL: bool = true;
    const EXPECTED: &'static str = T::EXPECTED;
    fn from_value(value: Value) -> Option<Self> {
        match value {
            Value::Null => Some(None),
            v => T::from_value(v).map(Some),
        }
    }
}

/// Converts one packed argument into a parameter type. Every [`FromValue`] type is one; so are
/// `&str` and `Option<&str>`, which borrow the argument's text without copying it (a text
/// argument, or the first string of a list; a number or a boolean needs a `String` parameter).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a plugin function parameter",
    label = "this parameter type is not supported",
    note = "use String, &str, bool, i64, Vec<String>, tenantsync_plugin::Timestamp or tenantsync_plugin::Value, or an Option of one of them to accept null"
)]
pub trait FromArg<'a>: Sized {
    /// True for `Option` types: the parameter accepts null and may be left out at the end.
    const OPTIONAL: bool = false;
    /// The type's name in error messages.
    const EXPECTED: &'static str;
    /// Converts `arg`, or `None` when it has another type.
    fn from_arg(arg: Arg<'a>) -> Option<Self>;
}

impl<'a, T: FromValue> FromArg<'a> for T {
    const OPTIONAL: bool = T::OPTIONAL;
    const EXPECTED: &'static str = T::EXPECTED;
    fn from_arg(arg: Arg<'a>) -> Option<Self> {
        T::from_value(arg.into_value())
    }
}

impl<'a> FromArg<'a> for &'a str {
    const EXPECTED: &'static str = "a string";
    fn from_arg(arg: Arg<'a>) -> Option<Self> {
        match arg {
            Arg::Text(s) => Some(s),
            Arg::Multi(mut v) => v.next(),
            _ => None,
        }
    }
}

impl<'a> FromArg<'a> for Option<&'a str> {
    const OPTIONAL: bool = true;
    const EXPECTED: &'static str = "a string";
    fn from_arg(arg: Arg<'a>) -> Option<Self> {
        match arg {
            Arg::Null => Some(None),
            a => <&'a str>::from_arg(a).map(Some),
        }
    }
}

/// Converts a return value into a value for the engine.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned by a plugin function",
    label = "this return type is not supported",
    note = "return String, bool, i64, Vec<String>, tenantsync_plugin::Timestamp, tenantsync_plugin::Value or an Option of one of them (None is null), or a Result of one of these whose error is a CallError or a String"
)]
pub trait IntoOutput {
    /// Converts the result.
    fn into_output(self) -> Result<Value, CallError>;
}

impl IntoOutput for String {
    fn into_output(self) -> Result<Value, CallError> {
        Ok(Value::Text(self))
    }
}

impl IntoOutput for &str {
    fn into_output(self) -> Result<Value, CallError> {
        Ok(Value::Text(self.to_string()))
    }
}

impl IntoOutput for bool {
    fn into_output(self) -> Result<Value, CallError> {
        Ok(Value::Boolean(self))
    }
}

impl IntoOutput for i64 {
    fn into_output(self) -> Result<Value, CallError> {
        Ok(Value::Number(self))
    }
}

impl IntoOutput for Vec<String> {
    fn into_output(self) -> Result<Value, CallError> {
        Ok(Value::Multi(self))
    }
}

impl IntoOutput for Timestamp {
    fn into_output(self) -> Result<Value, CallError> {
        Ok(Value::Datetime(self))
    }
}

impl IntoOutput for Value {
    fn into_output(self) -> Result<Value, CallError> {
        Ok(self)
    }
}

impl<T: IntoOutput> IntoOutput for Option<T> {
    fn into_output(self) -> Result<Value, CallError> {
        match self {
            Some(v) => v.into_output(),
            None => Ok(Value::Null),
        }
    }
}

/// An error a function returns: a [`CallError`], or a message (`String`, `&str`) reported as
/// [`CallError::Failed`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the error of a plugin function",
    note = "return Result<T, tenantsync_plugin::CallError> or Result<T, String>; convert other errors with .map_err(|e| e.to_string())"
)]
pub trait IntoCallError {
    /// Converts the error.
    fn into_call_error(self) -> CallError;
}

impl IntoCallError for CallError {
    fn into_call_error(self) -> CallError {
        self
    }
}

impl IntoCallError for String {
    fn into_call_error(self) -> CallError {
        CallError::Failed(self)
    }
}

impl IntoCallError for &str {
    fn into_call_error(self) -> CallError {
        CallError::Failed(self.to_string())
    }
}

impl<T: IntoOutput, E: IntoCallError> IntoOutput for Result<T, E> {
    fn into_output(self) -> Result<Value, CallError> {
        match self {
            Ok(v) => v.into_output(),
            Err(e) => Err(e.into_call_error()),
        }
    }
}

/// A Rust function the [`plugin!`] macro can register: `fn(A, B, ...) -> R` with up to eight
/// [`FromArg`] parameters and an [`IntoOutput`] result. `'a` is the lifetime of the call's
/// packed arguments, which `&str` parameters borrow.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be registered as a plugin function",
    label = "check this function's parameter and return types",
    note = "a plugin function is a plain `fn` with up to 8 parameters of types String, &str, bool, i64, Vec<String>, Timestamp, Value or Option<...> of them, returning one of these (but &str) or a Result of one"
)]
pub trait Handler<'a, Args> {
    /// The parameter names the registration must list: an array with one name per parameter.
    type Names;
    /// How many trailing parameters accept null and may be left out.
    fn optional() -> u32;
    /// Decodes the packed arguments, calls the function and converts its result.
    fn invoke(&self, function: &str, args: &'a [u8]) -> Result<Value, CallError>;
}

fn malformed(function: &str, e: DecodeError) -> CallError {
    CallError::InvalidArgument(format!(
        "{function}: the engine sent malformed arguments ({e}); use an engine that supports tenantsync:transform@0.2.0"
    ))
}

fn argument<'a, T: FromArg<'a>>(
    function: &str,
    index: usize,
    args: &mut Args<'a>,
) -> Result<T, CallError> {
    let arg = match args.next() {
        None => Arg::Null,
        Some(Ok(a)) => a,
        Some(Err(e)) => return Err(malformed(function, e)),
    };
    let null = matches!(arg, Arg::Null);
    T::from_arg(arg).ok_or_else(|| {
        CallError::InvalidArgument(if null {
            format!(
                "{function}: argument {} is empty; give it {}",
                index + 1,
                T::EXPECTED
            )
        } else {
            format!("{function}: argument {} must be {}", index + 1, T::EXPECTED)
        })
    })
}

/// Refuses arguments beyond the `n` a function takes.
fn no_more(function: &str, n: usize, args: Args<'_>) -> Result<(), CallError> {
    let mut extra = 0usize;
    for a in args {
        a.map_err(|e| malformed(function, e))?;
        extra += 1;
    }
    if extra == 0 {
        return Ok(());
    }
    Err(CallError::InvalidArgument(format!(
        "{function} takes {n} arguments, found {}",
        n + extra
    )))
}

macro_rules! handler {
    ($n:literal; $($t:ident),*) => {
        impl<'a, F, R, $($t),*> Handler<'a, ($($t,)*)> for F
        where
            F: Fn($($t),*) -> R,
            R: IntoOutput,
            $($t: FromArg<'a>,)*
        {
            type Names = [&'static str; $n];
            #[allow(unused_mut)]
            fn optional() -> u32 {
                let flags: [bool; $n] = [$($t::OPTIONAL),*];
                let mut n = 0;
                for f in flags.iter().rev() {
                    if !*f {
                        break;
                    }
                    n += 1;
                }
                n
            }
            #[allow(unused_mut, unused_variables, unused_assignments, non_snake_case)]
            fn invoke(&self, function: &str, args: &'a [u8]) -> Result<Value, CallError> {
                let mut it = Args::new(args);
                let mut i = 0usize;
                $(
                    let $t: $t = argument(function, i, &mut it)?;
                    i += 1;
                )*
                no_more(function, $n, it)?;
                (self)($($t),*).into_output()
            }
        }
    };
}

handler!(0;);
handler!(1; A1);
handler!(2; A1, A2);
handler!(3; A1, A2, A3);
handler!(4; A1, A2, A3, A4);
handler!(5; A1, A2, A3, A4, A5);
handler!(6; A1, A2, A3, A4, A5, A6);
handler!(7; A1, A2, A3, A4, A5, A6, A7);
handler!(8; A1, A2, A3, A4, A5, A6, A7, A8);

/// Describes a function for [`PluginInfo`], checking that `names` has one entry per parameter
/// of `f` (a mismatch is a compile error about the array's size).
#[doc(hidden)]
pub fn __describe<Args, F: Handler<'static, Args>>(
    _f: &F,
    name: &str,
    names: F::Names,
    description: &str,
) -> FunctionInfo
where
    F::Names: AsRef<[&'static str]>,
{
    FunctionInfo {
        name: name.to_string(),
        params: names.as_ref().iter().map(|s| s.to_string()).collect(),
        optional: F::optional(),
        description: description.to_string(),
    }
}

/// Calls `f` with the packed `args`.
#[doc(hidden)]
pub fn __invoke<'a, Args, F: Handler<'a, Args>>(
    f: &F,
    function: &str,
    args: &'a [u8],
) -> Result<Value, CallError> {
    f.invoke(function, args)
}

/// Declares the plugin: its name, version and functions, and exports it as a component.
///
/// ```ignore
/// plugin! {
///     name: "department-codes",
///     version: "1.0.0",
///     functions: {
///         "DepartmentName"(code) => department_name, "The department's name for a code.",
///         "DepartmentCode"(name, fallback) => department_code, "The code for a department name.",
///     }
/// }
/// ```
///
/// Each entry is `"ExpressionName"(parameter names...) => rust_function, "description",`. The
/// parameter names must match the function's parameters one for one; a function whose types
/// are not supported is a compile error that names the type and lists the supported ones.
#[macro_export]
macro_rules! plugin {
    (
        name: $name:expr,
        version: $version:expr,
        functions: {
            $( $fname:literal ( $($param:ident),* $(,)? ) => $func:path, $desc:literal ),* $(,)?
        } $(,)?
    ) => {
        #[doc(hidden)]
        pub struct __TenantsyncPlugin;

        impl $crate::bindings::Guest for __TenantsyncPlugin {
            fn describe() -> $crate::PluginInfo {
                $crate::PluginInfo {
                    name: ::std::string::String::from($name),
                    version: ::std::string::String::from($version),
                    functions: ::std::vec![
                        $( $crate::__describe(&$func, $fname, [$(stringify!($param)),*], $desc) ),*
                    ],
                }
            }

            #[allow(unused_assignments)]
            fn call(
                function: u32,
                args: ::std::vec::Vec<u8>,
            ) -> ::std::result::Result<$crate::Value, $crate::CallError> {
                // A function's number is its place in `describe`'s list.
                let mut index = 0u32;
                $(
                    if function == index {
                        return $crate::__invoke(&$func, $fname, &args);
                    }
                    index += 1;
                )*
                ::std::result::Result::Err($crate::CallError::NotFound(::std::format!(
                    "this plugin has no function number {function}"
                )))
            }
        }

        $crate::bindings::__export_transform!(__TenantsyncPlugin with_types_in $crate::bindings);
    };
}

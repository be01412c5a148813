//! What every exported function shares: the panic boundary, the per-thread last error, reading
//! arguments (NULL, UTF-8, JSON) and writing outputs (library-allocated strings).

use std::cell::RefCell;
use std::collections::HashSet;
use std::ffi::{CStr, CString};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{LazyLock, Mutex};

use safer_ffi::c_char;
use serde::de::DeserializeOwned;

use crate::status::Status;

/// A failed call: its status and what to tell the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The status the call returns.
    pub status: Status,
    /// The message [`crate::tenantsync_last_error_message`] returns.
    pub message: String,
}

impl Failure {
    /// A failure with `status` and `message`.
    pub fn new(status: Status, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: message.into(),
        }
    }
}

/// The result of the body of an exported function.
pub type Outcome = Result<(), Failure>;

thread_local! {
    static LAST_ERROR: RefCell<Option<Failure>> = const { RefCell::new(None) };
}

/// Records `failure` as this thread's last error.
pub fn set_last_error(failure: Failure) {
    LAST_ERROR.with(|last| *last.borrow_mut() = Some(failure));
}

/// This thread's last error, if a call failed on it.
pub fn last_error() -> Option<Failure> {
    LAST_ERROR.with(|last| last.borrow().clone())
}

/// Runs `body` inside the panic boundary: its failure (or panic) becomes the returned status
/// and this thread's last error. `function` names the exported function in a panic's message.
pub fn guard(function: &str, body: impl FnOnce() -> Outcome) -> Status {
    let failure = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => return Status::Ok,
        Ok(Err(failure)) => failure,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_string());
            Failure::new(
                Status::Panic,
                format!(
                    "{function} panicked ({what}); the call was abandoned: please report this bug"
                ),
            )
        }
    };
    let status = failure.status;
    set_last_error(failure);
    status
}

/// Runs `body` inside the panic boundary for a function that returns a value instead of a
/// status: a panic returns `default`.
pub fn guard_value<T>(default: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(default)
}

/// Reads a NUL-terminated UTF-8 string argument named `name`.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that outlives `'a`.
pub unsafe fn input_str<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, Failure> {
    if ptr.is_null() {
        return Err(Failure::new(
            Status::NullArgument,
            format!("{name} is null: pass a nul-terminated utf-8 string"),
        ));
    }
    // SAFETY: non-NULL, and the caller promises a NUL-terminated string.
    let bytes = unsafe { CStr::from_ptr(ptr.cast()) }.to_bytes();
    std::str::from_utf8(bytes).map_err(|e| {
        Failure::new(
            Status::InvalidUtf8,
            format!(
                "{name} is not valid utf-8 (byte {}): encode the text as utf-8",
                e.valid_up_to()
            ),
        )
    })
}

/// Like [`input_str`], with NULL read as `None`.
///
/// # Safety
/// As [`input_str`].
pub unsafe fn input_opt_str<'a>(
    ptr: *const c_char,
    name: &str,
) -> Result<Option<&'a str>, Failure> {
    if ptr.is_null() {
        Ok(None)
    } else {
        // SAFETY: forwarded.
        unsafe { input_str(ptr, name) }.map(Some)
    }
}

/// Parses the JSON argument `name` into `T` (NULL is `T::default()`), saying what is wrong.
///
/// # Safety
/// As [`input_str`].
pub unsafe fn json_arg<T: DeserializeOwned + Default>(
    ptr: *const c_char,
    name: &str,
    shape: &str,
) -> Result<T, Failure> {
    // SAFETY: forwarded.
    let Some(text) = (unsafe { input_opt_str(ptr, name) })? else {
        return Ok(T::default());
    };
    serde_json::from_str(text).map_err(|e| {
        Failure::new(
            Status::InvalidJson,
            format!("{name} is not valid: {e}; expected {shape} (see ffi/README.md)"),
        )
    })
}

/// Fails when the out-parameter `name` is NULL (checked before any work is done).
pub fn check_out<T>(out: *mut T, name: &str) -> Result<(), Failure> {
    if out.is_null() {
        Err(Failure::new(
            Status::NullArgument,
            format!("{name} is null: pass the address of a variable to receive the output"),
        ))
    } else {
        Ok(())
    }
}

/// Writes `value` to the out-parameter `out`, checked non-NULL by [`check_out`].
///
/// # Safety
/// `out` is a valid, writable pointer (it may be unaligned).
pub unsafe fn write_out<T>(out: *mut T, value: T) {
    debug_assert!(!out.is_null());
    // SAFETY: promised by the caller.
    unsafe { out.write_unaligned(value) }
}

/// The addresses of the strings the library gave out and that are not freed yet, so that a
/// double free or a foreign pointer is refused instead of corrupting memory.
static LIVE_STRINGS: LazyLock<Mutex<HashSet<usize>>> = LazyLock::new(Default::default);

fn live_strings() -> std::sync::MutexGuard<'static, HashSet<usize>> {
    // The set stays consistent even if a holder panicked: every operation is one insert/remove.
    LIVE_STRINGS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Turns `text` into a library-allocated, NUL-terminated string for the caller, who frees it
/// with `tenantsync_string_free`. An interior NUL (never in JSON) is written as `\0`.
pub fn output_string(text: String) -> *mut c_char {
    let text = CString::new(text)
        .unwrap_or_else(|e| {
            let escaped = String::from_utf8_lossy(&e.into_vec()).replace('\0', "\\0");
            CString::new(escaped).expect("no NUL left")
        })
        .into_raw();
    live_strings().insert(text as usize);
    text.cast()
}

/// Frees a string from [`output_string`]; NULL is a no-op.
///
/// # Safety
/// None beyond the pointer being any value: unknown pointers are refused, not dereferenced.
pub fn free_string(ptr: *mut c_char) -> Outcome {
    if ptr.is_null() {
        return Ok(());
    }
    if !live_strings().remove(&(ptr as usize)) {
        return Err(Failure::new(
            Status::InvalidHandle,
            "the string is not one the library returned, or it was already freed: free each returned string once",
        ));
    }
    // SAFETY: the pointer came from CString::into_raw in output_string and was live.
    drop(unsafe { CString::from_raw(ptr.cast()) });
    Ok(())
}

/// Serializes `value` as compact JSON.
pub fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, Failure> {
    serde_json::to_string(value)
        .map_err(|e| Failure::new(Status::Panic, format!("cannot serialize the output: {e}")))
}

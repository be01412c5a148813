//! Helpers the ABI's test binaries share: arguments as a C host passes them, library strings
//! taken and freed, the thread's last error.
// Each test binary uses its own part of these helpers.
#![allow(dead_code)]

use std::ffi::{CStr, CString, c_char as std_c_char};
use std::ptr;

use safer_ffi::c_char;
use tenantsync_ffi::handles::to_ptr;
use tenantsync_ffi::*;

/// A NUL-terminated argument.
pub fn arg(text: &str) -> CString {
    CString::new(text).expect("no NUL")
}

/// The argument's pointer, as C passes it.
pub fn p(text: &CString) -> *const c_char {
    text.as_ptr().cast()
}

/// Takes a library string: its text, then frees it (checking the free succeeds).
pub fn take(string: *mut c_char) -> String {
    assert!(!string.is_null(), "a library string");
    // SAFETY: a live library string.
    let text = unsafe { CStr::from_ptr(string.cast::<std_c_char>()) }
        .to_str()
        .expect("utf-8")
        .to_string();
    assert_eq!(unsafe { tenantsync_string_free(string) }, Status::Ok);
    text
}

/// This thread's last error message.
pub fn last_error() -> String {
    let mut out = ptr::null_mut();
    assert_eq!(
        unsafe { tenantsync_last_error_message(&mut out) },
        Status::Ok
    );
    take(out)
}

/// A sentinel an output must keep when a call fails.
pub fn sentinel<T>() -> *mut T {
    to_ptr(usize::MAX - 1)
}

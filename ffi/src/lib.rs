//! The C ABI over `tenantsync-core`, for the PowerShell module and other native hosts.
//!
//! The full ABI (handles, runs, progress polling) arrives with its own crate README; today it
//! exports the library version so hosts can check what they loaded.

use std::ffi::c_char;

/// The library version as a NUL-terminated UTF-8 string with static lifetime: never free it.
#[unsafe(no_mangle)]
pub extern "C" fn tenantsync_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn version_is_the_crate_version() {
        // SAFETY: tenantsync_version returns a static NUL-terminated string.
        let v = unsafe { CStr::from_ptr(tenantsync_version()) };
        assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }
}

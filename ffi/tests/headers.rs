//! The committed C header and C# P/Invoke file are what safer-ffi generates from the source:
//! this test regenerates both and fails on any difference. `TENANTSYNC_BLESS=1` rewrites them.

use std::path::PathBuf;

use safer_ffi::headers::Language;

const REFRESH: &str = "TENANTSYNC_BLESS=1 cargo test -p tenantsync-ffi --test headers";

fn generated(language: Language) -> String {
    let mut out = Vec::new();
    tenantsync_ffi::generate_headers(language, &mut out).expect("the bindings generate");
    String::from_utf8(out).expect("utf-8")
}

fn check(relative: &str, language: Language) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative);
    let fresh = generated(language);
    if std::env::var_os("TENANTSYNC_BLESS").is_some() {
        std::fs::write(&path, &fresh).expect("write the bindings");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != fresh {
        let line = committed
            .lines()
            .zip(fresh.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| committed.lines().count().min(fresh.lines().count()))
            + 1;
        panic!(
            "ffi/{relative} is not what the source generates (first difference at line {line}): \
             refresh it with `{REFRESH}` and commit it"
        );
    }
}

#[test]
fn the_c_header_is_up_to_date() {
    check("include/tenantsync.h", Language::C);
}

#[test]
fn the_csharp_bindings_are_up_to_date() {
    check("bindings/TenantSync.Native.cs", Language::CSharp);
}

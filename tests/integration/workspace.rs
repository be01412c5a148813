//! The repository's own promises: files that must exist for a fresh machine.

#[test]
fn toolchain_lists_the_wasm_target() {
    let text = std::fs::read_to_string(tenantsync_tests::repo_root().join("rust-toolchain.toml"))
        .expect("rust-toolchain.toml exists");
    assert!(text.contains("wasm32-wasip2"), "{text}");
}

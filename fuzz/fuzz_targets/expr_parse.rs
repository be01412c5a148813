//! The attribute-mapping expression parser, on any text, and Graph's tree form of an expression
//! (`attributeMappingSource` JSON) when the input starts with `{`.
//!
//! Beyond "never panics", every expression that parses must survive the round trips the
//! documentation promises: its canonical text parses back to the same tree, and so does its
//! Graph tree form, directly and through JSON.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tenantsync_core::{AttributeMappingSource, Expr, MAX_EXPRESSION_CHARS, parse_expression};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.trim_start().starts_with('{') {
        tree(text);
    } else if let Ok(e) = parse_expression(text) {
        round_trips(&e);
    }
});

/// Graph's tree form read from JSON: whatever reads back is an expression that round-trips.
fn tree(text: &str) {
    let Ok(src) = serde_json::from_str::<AttributeMappingSource>(text) else {
        return;
    };
    if let Ok(e) = Expr::from_mapping_source(&src) {
        round_trips(&e);
    }
}

fn round_trips(e: &Expr) {
    let _ = (e.attributes(), e.functions());
    let source = e.to_source();
    if source.chars().count() <= MAX_EXPRESSION_CHARS {
        match parse_expression(&source) {
            Ok(again) => assert_eq!(
                &again, e,
                "canonical text {source:?} reads back differently"
            ),
            Err(err) => panic!("canonical text {source:?} does not parse: {err}"),
        }
    }
    let tree = e.to_mapping_source();
    assert_eq!(
        Expr::from_mapping_source(&tree).as_ref(),
        Ok(e),
        "tree form of {source:?} reads back differently"
    );
    let json = serde_json::to_string(&tree).expect("a tree serializes");
    let back: AttributeMappingSource = serde_json::from_str(&json).expect("a tree reads back");
    assert_eq!(
        Expr::from_mapping_source(&back).as_ref(),
        Ok(e),
        "tree JSON of {source:?} reads back differently"
    );
}

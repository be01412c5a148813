//! A component for another world than tenantsync's: loading it must fail with a clear error.

wit_bindgen::generate!({
    inline: "
        package example:other@1.0.0;
        world other {
            export hello: func() -> string;
        }
    ",
});

struct Other;

impl Guest for Other {
    fn hello() -> String {
        "hello".to_string()
    }
}

export!(Other);

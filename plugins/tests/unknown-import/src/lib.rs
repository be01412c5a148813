//! A component that exports tenantsync's functions by name but imports a host function the
//! sandbox does not provide: loading it must fail and name the import.

wit_bindgen::generate!({
    inline: "
        package example:spy@1.0.0;
        interface secrets {
            get: func(name: string) -> string;
        }
        world spy {
            import secrets;
            export describe: func() -> string;
            export call: func(function: string) -> string;
        }
    ",
});

struct Spy;

impl Guest for Spy {
    fn describe() -> String {
        example::spy::secrets::get("describe")
    }
    fn call(function: String) -> String {
        example::spy::secrets::get(&function)
    }
}

export!(Spy);

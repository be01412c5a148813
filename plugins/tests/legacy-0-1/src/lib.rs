//! A plugin for the contract `tenantsync:transform@0.1.0` (`call` by name with a
//! `list<value>`), written against `plugins/wit/0.1.0` without the SDK, so the engine's
//! support of 0.1.0 stays tested: a working function, and the misbehaviours the host must
//! classify.

use std::hint::black_box;

wit_bindgen::generate!({
    path: "../../wit/0.1.0",
    world: "transform",
});

use tenantsync::transform::types::{FunctionInfo, Timestamp};

struct Legacy;

fn info(name: &str, params: &[&str], description: &str) -> FunctionInfo {
    FunctionInfo {
        name: name.to_string(),
        params: params.iter().map(|p| p.to_string()).collect(),
        optional: 0,
        description: description.to_string(),
    }
}

impl Guest for Legacy {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "legacy-0-1".to_string(),
            version: "0.0.1".to_string(),
            functions: vec![
                info("Echo", &["value"], "Returns its argument."),
                info("Upper", &["text"], "Upper-cases a text."),
                info("Spin", &[], "Never returns."),
                info("Panic", &["message"], "Panics with the message."),
                info("BadDate", &[], "Returns a date out of range."),
            ],
        }
    }

    fn call(function: String, args: Vec<Value>) -> Result<Value, CallError> {
        let mut args = args.into_iter();
        match function.as_str() {
            "Echo" => Ok(args.next().unwrap_or(Value::Null)),
            "Upper" => match args.next() {
                Some(Value::Text(s)) => Ok(Value::Text(s.to_uppercase())),
                Some(Value::Null) | None => Ok(Value::Null),
                Some(_) => Err(CallError::InvalidArgument(
                    "Upper: argument 1 must be a string".to_string(),
                )),
            },
            "Spin" => {
                let mut n: u64 = 0;
                loop {
                    n = black_box(n.wrapping_add(1));
                }
            }
            "Panic" => match args.next() {
                Some(Value::Text(s)) => panic!("deliberate failure: {s}"),
                _ => panic!("deliberate failure"),
            },
            "BadDate" => Ok(Value::Datetime(Timestamp {
                seconds: i64::MAX,
                nanoseconds: 0,
            })),
            other => Err(CallError::NotFound(format!(
                "this plugin has no function {other}"
            ))),
        }
    }
}

export!(Legacy);

//! A plugin that misbehaves on purpose, one function per misbehaviour, for the host's tests.
//! Never load it in a job.

use std::hint::black_box;

use tenantsync_plugin::{Timestamp, Value, plugin};

/// Never returns.
fn spin() -> String {
    let mut n: u64 = 0;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

/// Allocates until memory runs out.
fn bomb() -> String {
    let mut keep: Vec<Vec<u8>> = Vec::new();
    loop {
        keep.push(black_box(vec![1u8; 1 << 20]));
    }
}

/// Panics with a message.
fn panics(message: String) -> String {
    panic!("deliberate failure: {message}");
}

/// Returns `mib` MiB of text.
fn huge(mib: i64) -> String {
    "x".repeat((mib.max(0) as usize) << 20)
}

/// Tries to read a file of the machine.
fn read_file(path: String) -> String {
    match std::fs::read_to_string(&path) {
        Ok(text) => format!("read {} bytes", text.len()),
        Err(e) => format!("denied: {e}"),
    }
}

/// Tries to open a socket.
fn connect(address: String) -> String {
    match std::net::TcpStream::connect(address.as_str()) {
        Ok(_) => "connected".to_string(),
        Err(e) => format!("denied: {e}"),
    }
}

/// Reads the wall clock: seconds since 1970.
fn clock() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(-1, |d| d.as_secs() as i64)
}

/// What the environment gives: the number of variables and arguments, and the working directory.
fn environment() -> String {
    format!(
        "vars={} args={} cwd={}",
        std::env::vars().count(),
        std::env::args().count(),
        std::env::current_dir().map_or_else(|e| format!("none ({e})"), |p| p.display().to_string())
    )
}

/// Slow for the value "slow", instant for anything else.
fn slow_sometimes(value: String) -> String {
    if value == "slow" { spin() } else { value }
}

/// Panics when `value` is `bad`, else returns `value` in upper case.
fn panic_if(value: Option<String>, bad: String) -> Option<String> {
    if value.as_deref() == Some(bad.as_str()) {
        panic!("refusing {bad}");
    }
    value.map(|v| v.to_uppercase())
}

/// Writes `lines` lines to stdout and stderr, then returns "ok".
fn chatty(lines: i64) -> String {
    for i in 0..lines {
        println!("stdout line {i}");
        eprintln!("stderr line {i}");
    }
    "ok".to_string()
}

/// Returns its argument unchanged.
fn echo(value: Value) -> Value {
    value
}

/// Returns a text that is not UTF-8, which the contract forbids.
fn bad_utf8() -> String {
    // SAFETY: deliberately unsound for the host's test: the bytes are not UTF-8, and this
    // plugin only hands them back to the engine, which must refuse them.
    unsafe { String::from_utf8_unchecked(vec![b'a', 0xff, 0xfe]) }
}

/// Returns a date out of the engine's range.
fn bad_date() -> Timestamp {
    Timestamp {
        seconds: i64::MAX,
        nanoseconds: 0,
    }
}

/// Counts its calls in this instance (shows whether instances are reused).
fn counter() -> i64 {
    static mut CALLS: i64 = 0;
    // SAFETY: a component instance runs one call at a time on one thread.
    unsafe {
        CALLS += 1;
        CALLS
    }
}

plugin! {
    name: "hostile",
    version: "0.0.1",
    functions: {
        "Spin"() => spin, "Never returns.",
        "Bomb"() => bomb, "Allocates until memory runs out.",
        "Panic"(message) => panics, "Panics with the message.",
        "Huge"(mib) => huge, "Returns mib MiB of text.",
        "ReadFile"(path) => read_file, "Tries to read a file.",
        "Connect"(address) => connect, "Tries to open a TCP connection.",
        "Clock"() => clock, "Reads the wall clock.",
        "Environment"() => environment, "Reads variables, arguments and the working directory.",
        "SlowSometimes"(value) => slow_sometimes, "Never returns for \"slow\".",
        "Chatty"(lines) => chatty, "Prints lines to stdout and stderr.",
        "Echo"(value) => echo, "Returns its argument.",
        "PanicIf"(value, bad) => panic_if, "Panics for one value, upper-cases the others.",
        "Counter"() => counter, "Counts its calls.",
        "BadUtf8"() => bad_utf8, "Returns a text that is not UTF-8.",
        "BadDate"() => bad_date, "Returns a date out of range.",
    }
}

//! Department codes to names and back, through a lookup table compiled into the plugin:
//! `DepartmentName([department])` turns `FIN` into `Finance`; `DepartmentCode([department],
//! "OTHER")` turns `Finance` back into `FIN`, and an unknown name into the fallback.

use tenantsync_plugin::plugin;

/// Code, name. Codes compare ignoring case; names too.
const TABLE: &[(&str, &str)] = &[
    ("ENG", "Engineering"),
    ("FIN", "Finance"),
    ("HR", "Human Resources"),
    ("LEG", "Legal"),
    ("MKT", "Marketing"),
    ("OPS", "Operations"),
    ("SAL", "Sales"),
];

/// The name for a code; an unknown code is kept as it is, null stays null.
fn department_name(code: Option<String>) -> Option<String> {
    let code = code?;
    let key = code.trim();
    Some(
        TABLE
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(key))
            .map_or(code.clone(), |(_, n)| n.to_string()),
    )
}

/// The code for a name; an unknown name gives `fallback` (null when left out).
fn department_code(name: Option<String>, fallback: Option<String>) -> Option<String> {
    let name = name?;
    let key = name.trim();
    TABLE
        .iter()
        .find(|(_, n)| n.eq_ignore_ascii_case(key))
        .map(|(c, _)| c.to_string())
        .or(fallback)
}

plugin! {
    name: "department-codes",
    version: "0.1.0",
    functions: {
        "DepartmentName"(code) => department_name,
            "The department's name for a code such as FIN; an unknown code is kept.",
        "DepartmentCode"(name, fallback) => department_code,
            "The code for a department name; an unknown name gives the fallback.",
    }
}

//! Reading schema documents as Microsoft's pages publish them: shortened "for readability",
//! with elisions (`..`, `...`), the commas around them, trailing commas, a document cut off
//! before its end, and `{}` placeholders for parts left out. Graph refuses such text; an admin
//! who pastes it from a documentation page still wants to see what it holds and what is
//! missing. [`load_as_published`] repairs exactly these things, says each repair with its
//! position, and loads the result; the validator then names the parts that were left out.
//! Jobs never load schemas this way: `[schema] file` is read strictly ([`super::load`]).

use serde_json::Value;

use super::{SchemaError, SynchronizationSchema, load};

/// One change made to read a document as published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repair {
    /// Line of the change in the original text (1-based; 0 for changes to the parsed value).
    pub line: usize,
    /// Column (1-based; 0 for changes to the parsed value).
    pub column: usize,
    /// What was changed.
    pub what: String,
}

impl std::fmt::Display for Repair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.what)
        } else {
            write!(
                f,
                "line {}, column {}: {}",
                self.line, self.column, self.what
            )
        }
    }
}

/// Loads `json` strictly when it is a schema document as Graph reads it; otherwise repairs
/// what documentation pages shorten (see the module) and loads that, returning each repair.
/// Fails with the strict reading's error when the repaired text does not load either.
pub fn load_as_published(json: &str) -> Result<(SynchronizationSchema, Vec<Repair>), SchemaError> {
    let strict = match load(json) {
        Ok(schema) => return Ok((schema, Vec::new())),
        Err(e) => e,
    };
    let (text, mut repairs) = match strict {
        SchemaError::Syntax { .. } => repair_text(json.strip_prefix('\u{feff}').unwrap_or(json)),
        _ => (json.to_string(), Vec::new()),
    };
    let Ok(mut value) = serde_json::from_str::<Value>(&text) else {
        return Err(strict);
    };
    let mut path = String::from("$");
    empty_sources(&mut value, &mut path, &mut repairs);
    if repairs.is_empty() {
        return Err(strict);
    }
    match load(&value.to_string()) {
        Ok(schema) => Ok((schema, repairs)),
        Err(_) => Err(strict),
    }
}

/// `"source": {}` (a placeholder) read as no source.
fn empty_sources(v: &mut Value, path: &mut String, repairs: &mut Vec<Repair>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                let len = path.len();
                path.push('.');
                path.push_str(k);
                if k == "source" && child.as_object().is_some_and(|o| o.is_empty()) {
                    *child = Value::Null;
                    repairs.push(Repair {
                        line: 0,
                        column: 0,
                        what: format!("{path} is `{{}}`, a placeholder: read as no source"),
                    });
                } else {
                    empty_sources(child, path, repairs);
                }
                path.truncate(len);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter_mut().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                empty_sources(child, path, repairs);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// A token outside strings, with its position, as far as repairs need them.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Tok {
    Open(char),
    Close(char),
    Comma,
    Colon,
    /// A string, number, literal: anything that is a value or a key.
    Atom,
    /// `..`, `...` or `…`.
    Elision,
}

/// Repairs the text: elisions removed, then commas that lead, trail or repeat, then a
/// truncated end closed.
fn repair_text(text: &str) -> (String, Vec<Repair>) {
    // Positions of every char, for messages.
    let chars: Vec<char> = text.chars().collect();
    let mut pos = Vec::with_capacity(chars.len());
    let (mut line, mut col) = (1, 1);
    for &c in &chars {
        pos.push((line, col));
        if c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    // Tokenize: (token, start index, end index exclusive).
    let mut toks: Vec<(Tok, usize, usize)> = Vec::new();
    let mut i = 0;
    let mut unterminated = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '{' | '[' => {
                toks.push((Tok::Open(c), i, i + 1));
                i += 1;
            }
            '}' | ']' => {
                toks.push((Tok::Close(c), i, i + 1));
                i += 1;
            }
            ',' => {
                toks.push((Tok::Comma, i, i + 1));
                i += 1;
            }
            ':' => {
                toks.push((Tok::Colon, i, i + 1));
                i += 1;
            }
            '"' => {
                let start = i;
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
                if i >= chars.len() {
                    unterminated = true;
                    i = chars.len();
                } else {
                    i += 1;
                }
                toks.push((Tok::Atom, start, i));
            }
            '.' | '…' => {
                let start = i;
                while i < chars.len() && (chars[i] == '.' || chars[i] == '…') {
                    i += 1;
                }
                let tok = if i - start >= 2 || c == '…' {
                    Tok::Elision
                } else {
                    Tok::Atom
                };
                toks.push((tok, start, i));
            }
            _ => {
                let start = i;
                while i < chars.len()
                    && !chars[i].is_whitespace()
                    && !matches!(chars[i], '{' | '}' | '[' | ']' | ',' | ':' | '"')
                {
                    i += 1;
                }
                toks.push((Tok::Atom, start, i));
            }
        }
    }
    let mut repairs = Vec::new();
    let at = |idx: usize| pos.get(idx).copied().unwrap_or((line, col));
    let mut drop = vec![false; toks.len()];
    for (k, (t, s, _)) in toks.iter().enumerate() {
        if *t == Tok::Elision {
            drop[k] = true;
            let (l, c) = at(*s);
            repairs.push(Repair {
                line: l,
                column: c,
                what: "an elision (`...`) removed".into(),
            });
        }
    }
    // Commas: keep one only between two values of the same container.
    let kept: Vec<usize> = (0..toks.len()).filter(|&k| !drop[k]).collect();
    for (n, &k) in kept.iter().enumerate() {
        if toks[k].0 != Tok::Comma {
            continue;
        }
        let prev = n.checked_sub(1).map(|p| toks[kept[p]].0);
        let next = kept.get(n + 1).map(|&q| toks[q].0);
        let (what, remove) = match (prev, next) {
            (Some(Tok::Open(_)) | None, _) => ("a leading comma removed", true),
            (_, Some(Tok::Close(_)) | None) => ("a trailing comma removed", true),
            (Some(Tok::Comma), _) => ("a repeated comma removed", true),
            _ => ("", false),
        };
        if remove {
            drop[k] = true;
            let (l, c) = at(toks[k].1);
            repairs.push(Repair {
                line: l,
                column: c,
                what: what.into(),
            });
        }
    }
    // Rebuild the text without the dropped tokens.
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (k, (_, s, e)) in toks.iter().enumerate() {
        if drop[k] {
            out.extend(&chars[last..*s]);
            last = *e;
        }
    }
    out.extend(&chars[last..]);
    if unterminated {
        out.push('"');
        repairs.push(Repair {
            line,
            column: col,
            what: "the document ends inside a string: the string closed".into(),
        });
    }
    // Close what a cut-off document left open.
    let mut stack = Vec::new();
    let mut dangling_colon = false;
    for (k, (t, _, _)) in toks.iter().enumerate() {
        if drop[k] {
            continue;
        }
        match t {
            Tok::Open(c) => stack.push(*c),
            Tok::Close(_) => {
                stack.pop();
            }
            _ => {}
        }
        dangling_colon = *t == Tok::Colon;
    }
    if !stack.is_empty() {
        let trimmed = out.trim_end().len();
        out.truncate(trimmed);
        if out.ends_with(',') {
            out.pop();
        }
        if dangling_colon {
            out.push_str(" null");
        }
        let closing: String = stack
            .iter()
            .rev()
            .map(|c| if *c == '{' { '}' } else { ']' })
            .collect();
        repairs.push(Repair {
            line,
            column: col,
            what: format!("the document stops before its end: closed with `{closing}`"),
        });
        out.push_str(&closing);
    }
    (out, repairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(text: &str) -> (Value, Vec<String>) {
        let (out, repairs) = repair_text(text);
        let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{out}: {e}"));
        (v, repairs.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn elisions_and_the_commas_around_them_are_removed_with_positions() {
        let (v, r) = fixed("{\"a\": [..], \"b\": [1, ..., 2,], \"c\": {\"x\": 1,}}");
        assert_eq!(v, serde_json::json!({"a": [], "b": [1, 2], "c": {"x": 1}}));
        assert!(
            r.iter()
                .any(|m| m.starts_with("line 1, column 8: an elision")),
            "{r:?}"
        );
        assert!(r.iter().any(|m| m.contains("trailing comma")), "{r:?}");
        assert!(r.iter().any(|m| m.contains("repeated comma")), "{r:?}");
    }

    #[test]
    fn a_leading_comma_is_removed() {
        let (v, r) = fixed("[\n  ,{\"a\": 1}\n]");
        assert_eq!(v, serde_json::json!([{"a": 1}]));
        assert_eq!(r, ["line 2, column 3: a leading comma removed"]);
    }

    #[test]
    fn a_document_cut_off_is_closed() {
        let (v, r) = fixed("{\"a\": {\"b\": [1, 2,\n ...");
        assert_eq!(v, serde_json::json!({"a": {"b": [1, 2]}}));
        assert!(r.last().unwrap().contains("closed with `]}}`"), "{r:?}");
        let (v, _) = fixed("{\"a\": \"unfinished");
        assert_eq!(v, serde_json::json!({"a": "unfinished"}));
        let (v, _) = fixed("{\"a\":");
        assert_eq!(v, serde_json::json!({"a": null}));
    }

    #[test]
    fn dots_inside_strings_and_numbers_are_kept() {
        let (v, r) = fixed("{\"a\": \"x...y\", \"b\": 1.5}");
        assert_eq!(v, serde_json::json!({"a": "x...y", "b": 1.5}));
        assert!(r.is_empty());
    }

    #[test]
    fn a_strict_document_loads_without_repairs_and_garbage_keeps_the_strict_error() {
        let strict = crate::schema::to_json_pretty(&crate::schema::default_schema());
        let (_, repairs) = load_as_published(&strict).unwrap();
        assert!(repairs.is_empty());
        let e = load_as_published("not json at all").unwrap_err();
        assert!(matches!(e, SchemaError::Syntax { line: 1, .. }), "{e}");
    }
}

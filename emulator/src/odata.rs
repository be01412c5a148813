//! OData query options: `$filter` (the subset Graph supports on directory objects),
//! `$select`, and opaque paging tokens.

use crate::store::Obj;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// A parsed `$filter` expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    /// `prop eq value` / `prop ne value`.
    Cmp {
        prop: String,
        ne: bool,
        value: Value,
    },
    /// `startswith(prop, 'text')`.
    StartsWith {
        prop: String,
        text: String,
    },
    /// `prop in ('a', 'b')`.
    In {
        prop: String,
        values: Vec<Value>,
    },
    /// `prop/any(x: x eq 'v')` or `prop/any(x: startswith(x, 'v'))`.
    Any {
        prop: String,
        value: Value,
        starts: bool,
    },
}

/// Why a filter was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FilterError {
    /// Syntax error (Graph: 400 `BadRequest`).
    Syntax(String),
    /// A property that cannot be filtered (Graph: 400 `Request_UnsupportedQuery`).
    Unsupported(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    LParen,
    RParen,
    Comma,
    Colon,
}

fn tokenize(s: &str) -> Result<Vec<Tok>, FilterError> {
    let c: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < c.len() {
        let ch = c[i];
        match ch {
            ' ' | '\t' | '\n' => i += 1,
            '(' => {
                out.push(Tok::LParen);
                i += 1
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1
            }
            ':' => {
                out.push(Tok::Colon);
                i += 1
            }
            '\'' => {
                let mut v = String::new();
                i += 1;
                loop {
                    match c.get(i) {
                        None => {
                            return Err(FilterError::Syntax("unterminated string literal".into()));
                        }
                        Some('\'') if c.get(i + 1) == Some(&'\'') => {
                            v.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(x) => {
                            v.push(*x);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(v));
            }
            x if x.is_ascii_digit() || x == '-' => {
                let start = i;
                while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '.' || c[i] == '-') {
                    i += 1;
                }
                let text: String = c[start..i].iter().collect();
                match text.parse::<f64>() {
                    Ok(n) if !text.contains(|x: char| x.is_ascii_alphabetic()) => {
                        out.push(Tok::Num(n))
                    }
                    // A GUID or similar bare word.
                    _ => out.push(Tok::Ident(text)),
                }
            }
            x if x.is_alphanumeric() || x == '_' || x == '$' => {
                let start = i;
                while i < c.len()
                    && (c[i].is_alphanumeric() || matches!(c[i], '_' | '/' | '.' | '$' | '@'))
                {
                    i += 1;
                }
                out.push(Tok::Ident(c[start..i].iter().collect()));
            }
            other => {
                return Err(FilterError::Syntax(format!(
                    "unexpected character '{other}'"
                )));
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    allowed: &'a dyn Fn(&str) -> bool,
}

impl Parser<'_> {
    fn peek_word(&self, w: &str) -> bool {
        matches!(self.toks.get(self.pos), Some(Tok::Ident(x)) if x.eq_ignore_ascii_case(w))
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn expect(&mut self, t: Tok) -> Result<(), FilterError> {
        match self.next() {
            Some(x) if x == t => Ok(()),
            other => Err(FilterError::Syntax(format!(
                "expected {t:?}, found {other:?}"
            ))),
        }
    }
    fn or(&mut self) -> Result<Expr, FilterError> {
        let mut l = self.and()?;
        while self.peek_word("or") {
            self.pos += 1;
            let r = self.and()?;
            l = Expr::Or(Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn and(&mut self) -> Result<Expr, FilterError> {
        let mut l = self.unary()?;
        while self.peek_word("and") {
            self.pos += 1;
            let r = self.unary()?;
            l = Expr::And(Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn prop(&self, p: &str) -> Result<String, FilterError> {
        if (self.allowed)(p) {
            Ok(p.to_string())
        } else {
            Err(FilterError::Unsupported(p.to_string()))
        }
    }
    fn literal(&mut self) -> Result<Value, FilterError> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Value::String(s)),
            Some(Tok::Num(n)) => Ok(serde_json::Number::from_f64(n)
                .map(Value::Number)
                .unwrap_or(Value::Null)),
            Some(Tok::Ident(w)) if w == "true" => Ok(Value::Bool(true)),
            Some(Tok::Ident(w)) if w == "false" => Ok(Value::Bool(false)),
            Some(Tok::Ident(w)) if w == "null" => Ok(Value::Null),
            other => Err(FilterError::Syntax(format!(
                "expected a literal, found {other:?}"
            ))),
        }
    }
    fn unary(&mut self) -> Result<Expr, FilterError> {
        if self.peek_word("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        match self.next() {
            Some(Tok::LParen) => {
                let e = self.or()?;
                self.expect(Tok::RParen)?;
                Ok(e)
            }
            Some(Tok::Ident(f)) if f.eq_ignore_ascii_case("startswith") => {
                self.expect(Tok::LParen)?;
                let Some(Tok::Ident(p)) = self.next() else {
                    return Err(FilterError::Syntax("startswith needs a property".into()));
                };
                let prop = self.prop(&p)?;
                self.expect(Tok::Comma)?;
                let Some(Tok::Str(text)) = self.next() else {
                    return Err(FilterError::Syntax("startswith needs a string".into()));
                };
                self.expect(Tok::RParen)?;
                Ok(Expr::StartsWith { prop, text })
            }
            Some(Tok::Ident(p)) => {
                if let Some((base, f)) = p.split_once('/')
                    && f.eq_ignore_ascii_case("any")
                {
                    let prop = self.prop(base)?;
                    self.expect(Tok::LParen)?;
                    let Some(Tok::Ident(var)) = self.next() else {
                        return Err(FilterError::Syntax("any() needs a lambda variable".into()));
                    };
                    self.expect(Tok::Colon)?;
                    let (value, starts) = if self.peek_word("startswith") {
                        self.pos += 1;
                        self.expect(Tok::LParen)?;
                        let _ = self.next();
                        self.expect(Tok::Comma)?;
                        let v = self.literal()?;
                        self.expect(Tok::RParen)?;
                        (v, true)
                    } else {
                        match self.next() {
                            Some(Tok::Ident(v)) if v == var => {}
                            other => {
                                return Err(FilterError::Syntax(format!(
                                    "unexpected {other:?} in any()"
                                )));
                            }
                        }
                        if !self.peek_word("eq") {
                            return Err(FilterError::Syntax(
                                "any() supports eq and startswith".into(),
                            ));
                        }
                        self.pos += 1;
                        (self.literal()?, false)
                    };
                    self.expect(Tok::RParen)?;
                    return Ok(Expr::Any {
                        prop,
                        value,
                        starts,
                    });
                }
                let prop = self.prop(&p)?;
                match self.next() {
                    Some(Tok::Ident(op))
                        if op.eq_ignore_ascii_case("eq") || op.eq_ignore_ascii_case("ne") =>
                    {
                        let value = self.literal()?;
                        Ok(Expr::Cmp {
                            prop,
                            ne: op.eq_ignore_ascii_case("ne"),
                            value,
                        })
                    }
                    Some(Tok::Ident(op)) if op.eq_ignore_ascii_case("in") => {
                        self.expect(Tok::LParen)?;
                        let mut values = vec![self.literal()?];
                        while matches!(self.toks.get(self.pos), Some(Tok::Comma)) {
                            self.pos += 1;
                            values.push(self.literal()?);
                        }
                        self.expect(Tok::RParen)?;
                        Ok(Expr::In { prop, values })
                    }
                    Some(Tok::Ident(op)) => Err(FilterError::Unsupported(format!("{prop} {op}"))),
                    other => Err(FilterError::Syntax(format!(
                        "expected an operator after {prop}, found {other:?}"
                    ))),
                }
            }
            other => Err(FilterError::Syntax(format!("unexpected {other:?}"))),
        }
    }
}

/// Parses a `$filter`; `allowed` says which properties may be filtered.
pub(crate) fn parse_filter(s: &str, allowed: &dyn Fn(&str) -> bool) -> Result<Expr, FilterError> {
    let toks = tokenize(s)?;
    let mut p = Parser {
        toks,
        pos: 0,
        allowed,
    };
    let e = p.or()?;
    if p.pos != p.toks.len() {
        return Err(FilterError::Syntax(
            "unexpected text after the filter expression".into(),
        ));
    }
    Ok(e)
}

fn get<'a>(o: &'a Obj, prop: &str) -> Option<&'a Value> {
    o.get(prop).or_else(|| {
        o.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(prop))
            .map(|(_, v)| v)
    })
}

fn equal(a: Option<&Value>, b: &Value) -> bool {
    match (a, b) {
        (Some(Value::String(x)), Value::String(y)) => x.eq_ignore_ascii_case(y),
        (Some(Value::Number(x)), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (None, Value::Null) => true,
        (Some(x), y) => x == y,
        (None, _) => false,
    }
}

/// Evaluates a filter on an object.
pub(crate) fn eval(e: &Expr, o: &Obj) -> bool {
    match e {
        Expr::And(a, b) => eval(a, o) && eval(b, o),
        Expr::Or(a, b) => eval(a, o) || eval(b, o),
        Expr::Not(a) => !eval(a, o),
        Expr::Cmp { prop, ne, value } => equal(get(o, prop), value) != *ne,
        Expr::StartsWith { prop, text } => get(o, prop)
            .and_then(Value::as_str)
            .is_some_and(|v| v.to_lowercase().starts_with(&text.to_lowercase())),
        Expr::In { prop, values } => values.iter().any(|v| equal(get(o, prop), v)),
        Expr::Any {
            prop,
            value,
            starts,
        } => get(o, prop).and_then(Value::as_array).is_some_and(|a| {
            a.iter().any(|x| {
                if *starts {
                    match (x.as_str(), value.as_str()) {
                        (Some(x), Some(v)) => x.to_lowercase().starts_with(&v.to_lowercase()),
                        _ => false,
                    }
                } else {
                    equal(Some(x), value)
                }
            })
        }),
    }
}

/// Whether a filter uses operators Graph allows on directory objects only with advanced
/// query parameters (`ne`, `not`).
pub(crate) fn needs_advanced(e: &Expr) -> bool {
    match e {
        Expr::And(a, b) | Expr::Or(a, b) => needs_advanced(a) || needs_advanced(b),
        Expr::Not(_) => true,
        Expr::Cmp { ne, .. } => *ne,
        Expr::StartsWith { .. } | Expr::In { .. } | Expr::Any { .. } => false,
    }
}

/// Ids named by `id eq '..'` / `id in (..)` clauses joined by `or` (for delta's filter).
pub(crate) fn only_ids(e: &Expr) -> Option<Vec<String>> {
    match e {
        Expr::Or(a, b) => {
            let mut v = only_ids(a)?;
            v.extend(only_ids(b)?);
            Some(v)
        }
        Expr::Cmp {
            prop,
            ne: false,
            value: Value::String(s),
        } if prop.eq_ignore_ascii_case("id") => Some(vec![s.to_ascii_lowercase()]),
        Expr::In { prop, values } if prop.eq_ignore_ascii_case("id") => values
            .iter()
            .map(|v| v.as_str().map(str::to_ascii_lowercase))
            .collect(),
        _ => None,
    }
}

/// Parses `$select` into property names.
pub(crate) fn parse_select(s: Option<&str>) -> Option<Vec<String>> {
    let s = s?;
    let v: Vec<String> = s
        .split(',')
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect();
    if v.is_empty() { None } else { Some(v) }
}

/// Projects an object onto selected properties (`id` always included), or onto the
/// default property set when nothing is selected (`None` default = all properties except
/// directory extensions).
pub(crate) fn project(o: &Obj, select: Option<&[String]>, default: Option<&[&str]>) -> Obj {
    let mut out = Obj::new();
    match select {
        Some(sel) => {
            if let Some(id) = o.get("id") {
                out.insert("id".into(), id.clone());
            }
            for p in sel {
                if p == "*" {
                    for (k, v) in o {
                        out.insert(k.clone(), v.clone());
                    }
                    continue;
                }
                let (k, v) = o
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(p))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .unwrap_or_else(|| (p.clone(), Value::Null));
                out.insert(k, v);
            }
        }
        None => match default {
            Some(props) => {
                for p in props {
                    out.insert((*p).to_string(), o.get(*p).cloned().unwrap_or(Value::Null));
                }
            }
            None => {
                for (k, v) in o {
                    if !k.starts_with("extension_") {
                        out.insert(k.clone(), v.clone());
                    }
                }
            }
        },
    }
    out
}

/// Encodes an opaque paging token.
pub(crate) fn encode_token(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

/// Decodes an opaque paging token.
pub(crate) fn decode_token(s: &str) -> Option<Value> {
    let bytes = URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Obj {
        v.as_object().cloned().unwrap_or_default()
    }

    fn any(_: &str) -> bool {
        true
    }

    #[test]
    fn filters_evaluate() {
        let u = obj(
            json!({"id": "1", "mail": "Ann@x.com", "displayName": "Ann O'Neil", "accountEnabled": true, "groupTypes": ["Unified"]}),
        );
        let f = |s: &str| parse_filter(s, &any).map(|e| eval(&e, &u));
        assert_eq!(f("mail eq 'ann@x.com'"), Ok(true));
        assert_eq!(f("displayName eq 'Ann O''Neil'"), Ok(true));
        assert_eq!(f("startswith(displayName,'an')"), Ok(true));
        assert_eq!(f("accountEnabled eq true and mail eq 'b@x.com'"), Ok(false));
        assert_eq!(f("accountEnabled eq false or (id eq '1')"), Ok(true));
        assert_eq!(f("id in ('2','1')"), Ok(true));
        assert_eq!(f("groupTypes/any(c:c eq 'Unified')"), Ok(true));
        assert_eq!(f("not(mail eq 'ann@x.com')"), Ok(false));
        assert!(matches!(f("mail eq"), Err(FilterError::Syntax(_))));
    }

    #[test]
    fn unsupported_properties_are_refused() {
        let allowed = |p: &str| p == "mail";
        assert_eq!(
            parse_filter("city eq 'x'", &allowed),
            Err(FilterError::Unsupported("city".into()))
        );
        assert!(matches!(
            parse_filter("mail gt 'x'", &allowed),
            Err(FilterError::Unsupported(_))
        ));
    }

    #[test]
    fn only_ids_extracts_id_lists() {
        let e =
            parse_filter("id eq 'A' or id eq 'b'", &any).unwrap_or(Expr::Not(Box::new(Expr::In {
                prop: String::new(),
                values: vec![],
            })));
        assert_eq!(only_ids(&e), Some(vec!["a".to_string(), "b".to_string()]));
    }

    #[test]
    fn projection_uses_defaults_and_select() {
        let u = obj(json!({"id": "1", "mail": "m", "city": "c", "extension_x_a": "e"}));
        let p = project(
            &u,
            Some(&["city".to_string(), "jobTitle".to_string()]),
            Some(&["id", "mail"]),
        );
        assert_eq!(
            Value::Object(p),
            json!({"id": "1", "city": "c", "jobTitle": null})
        );
        let p = project(&u, None, Some(&["id", "mail"]));
        assert_eq!(Value::Object(p), json!({"id": "1", "mail": "m"}));
        let p = project(&u, None, None);
        assert_eq!(
            Value::Object(p),
            json!({"id": "1", "mail": "m", "city": "c"})
        );
    }
}

//! The built-in functions.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use rand::Rng;
use rand::seq::SliceRandom;

use super::datetime::{self, Interval, Styles};
use super::eval::{Args, EvalError, Evaluator, MAX_VALUE_BYTES, number, text, too_long, truthy};
use super::text::{self as txt, Culture};
use crate::value::Value;

/// Most characters `RandomString` may produce.
pub(crate) const RANDOM_STRING_MAX: i64 = 256;

/// The special characters of Windows password complexity rules, used by `RandomString`.
const SPECIAL: &str = "~!@#$%^&*_-+=`|\\(){}[]:;\"'<>,.?/";

/// Compiled regular expressions, by pattern, per thread.
const REGEX_CACHE_MAX: usize = 512;

thread_local! {
    static REGEXES: RefCell<HashMap<String, Rc<fancy_regex::Regex>>> = RefCell::new(HashMap::new());
}

/// Compiles `pattern` once per thread (up to [`REGEX_CACHE_MAX`] patterns).
fn regex(pattern: &str) -> Result<Rc<fancy_regex::Regex>, String> {
    REGEXES.with(|cache| {
        if let Some(r) = cache.borrow().get(pattern) {
            return Ok(Rc::clone(r));
        }
        let r = Rc::new(fancy_regex::Regex::new(pattern).map_err(|e| {
            format!("regexPattern {pattern:?} is not a valid regular expression: {e}")
        })?);
        let mut c = cache.borrow_mut();
        if c.len() >= REGEX_CACHE_MAX {
            c.clear();
        }
        c.insert(pattern.to_string(), Rc::clone(&r));
        Ok(r)
    })
}

fn s(v: impl Into<String>) -> Value {
    Value::String(v.into())
}

impl Evaluator<'_> {
    /// Text of required argument `i` (`None` when null).
    fn text_arg(&mut self, a: &Args<'_>, i: usize) -> Result<Option<String>, EvalError> {
        let v = self.arg(a, i)?;
        Ok(into_text(v))
    }

    /// Text of optional argument `i` (`None` when omitted or null).
    fn text_opt(&mut self, a: &Args<'_>, i: usize) -> Result<Option<String>, EvalError> {
        Ok(self.opt(a, i)?.and_then(into_text))
    }

    /// A whole number from required argument `i`.
    fn int_arg(&mut self, a: &Args<'_>, i: usize) -> Result<i64, EvalError> {
        let v = self.arg(a, i)?;
        self.int_of(a, i, &v)
    }

    fn int_of(&self, a: &Args<'_>, i: usize, v: &Value) -> Result<i64, EvalError> {
        match number(v) {
            Some(Ok(n)) => Ok(n),
            Some(Err(())) => {
                Err(a.invalid(format!("{} must be a whole number, found {v}", a.param(i))))
            }
            None => Err(a.invalid(format!(
                "{} must be a whole number, found nothing (the value is null or empty)",
                a.param(i)
            ))),
        }
    }

    /// A date from argument `i` (a date value or text `CDate` reads); `None` when null.
    fn date_arg(&mut self, a: &Args<'_>, i: usize) -> Result<Option<DateTime<Utc>>, EvalError> {
        let v = self.arg(a, i)?;
        self.date_of(a, i, &v)
    }

    fn date_of(
        &self,
        a: &Args<'_>,
        i: usize,
        v: &Value,
    ) -> Result<Option<DateTime<Utc>>, EvalError> {
        match v {
            Value::DateTime(d) => Ok(Some(*d)),
            other => match text(other) {
                None => Ok(None),
                Some(t) if t.trim().is_empty() => Ok(None),
                Some(t) => datetime::parse_lenient(&t, &self.ctx.now())
                    .map(Some)
                    .ok_or_else(|| {
                        a.invalid(format!(
                            "{} {:?} is not a date; give an ISO 8601 date such as 2024-03-16T07:00:00Z, or convert it with FormatDateTime",
                            a.param(i),
                            t
                        ))
                    }),
            },
        }
    }

    pub(super) fn builtin(&mut self, a: &Args<'_>, top: bool) -> Result<Value, EvalError> {
        match a.name() {
            "AltSecIdFromNetId" => self.f_alt_sec_id_from_net_id(a),
            "Append" => self.f_append(a),
            "AppRoleAssignmentsComplex" => self.f_app_role_assignments_complex(a),
            "BitAnd" => self.f_bit_and(a),
            "CBool" => self.f_cbool(a),
            "CDate" => self.f_cdate(a),
            "Coalesce" => self.f_coalesce(a),
            "ConvertToBase64" => self.f_convert_to_base64(a),
            "ConvertToUTF8Hex" => self.f_convert_to_utf8_hex(a),
            "Count" => self.f_count(a),
            "CStr" => self.f_cstr(a),
            "DateAdd" => self.f_date_add(a),
            "DateDiff" => self.f_date_diff(a),
            "DateFromNum" => self.f_date_from_num(a),
            "DefaultDomain" => self.f_default_domain(),
            "FormatDateTime" => self.format_date_time(a),
            "Guid" => self.f_guid(),
            "IgnoreFlowIfNullOrEmpty" => self.f_ignore_flow_if_null_or_empty(a, top),
            "IIF" => self.f_iif(a),
            "InStr" => self.instr(a),
            "IsNull" => self.f_is_null(a),
            "IsNullOrEmpty" => self.f_is_null_or_empty(a),
            "IsPresent" => self.f_is_present(a),
            "IsString" => self.f_is_string(a),
            "Item" => self.f_item(a),
            "Join" => self.f_join(a),
            "Left" => self.f_left(a),
            "Mid" => self.f_mid(a),
            "NormalizeDiacritics" => self.f_normalize_diacritics(a),
            "Not" => self.f_not(a),
            "Now" => self.f_now(),
            "NumFromDate" => self.f_num_from_date(a),
            "PCase" => self.f_pcase(a),
            "RandomString" => self.random_string(a),
            "Redact" => self.f_redact(a, top),
            "RemoveDuplicates" => self.f_remove_duplicates(a),
            "Replace" => self.replace(a),
            "SelectUniqueValue" => self.f_select_unique_value(a, top),
            "SingleAppRoleAssignment" => self.f_single_app_role_assignment(a),
            "Split" => self.f_split(a),
            "StripSpaces" => self.f_strip_spaces(a),
            "Switch" => self.f_switch(a),
            "ToLower" | "ToUpper" => self.f_change_case(a),
            "Word" => self.f_word(a),
            other => Err(EvalError::UnknownFunction {
                name: other.to_string(),
                suggestion: None,
            }),
        }
    }

    fn f_alt_sec_id_from_net_id(&mut self, a: &Args<'_>) -> Result<Value, EvalError> {
        let Some(net_id) = self.text_arg(a, 0)? else {
            return Ok(Value::Null);
        };
        let t = net_id.trim();
        if t.len() != 16 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(a.invalid(format!(
                "netId {t:?} is not a netId (16 hexadecimal digits)"
            )));
        }
        Ok(s(t.to_ascii_uppercase()))
    }

    fn f_append(&mut self, a: &Args<'_>) -> Result<Value, EvalError> {
        let Some(mut src) = self.text_arg(a, 0)? else {
            return Ok(Value::Null);
        };
        if let Some(suffix) = self.text_arg(a, 1)? {
            src.push_str(&suffix);
        }
        Ok(s(src))
    }

    fn f_app_role_assignments_complex(&mut self, a: &Args<'_>) -> Result<Value, EvalError> {
        let roles = self.arg(a, 0)?.as_list();
        if roles.is_empty() {
            return Ok(Value::Null);
        }
        let items = roles
            .iter()
            .filter_map(text)
            .filter(|t| !t.is_empty())
            .enumerate()
            .map(|(i, t)| {
                s(serde_json::json!({
                    "primary": i == 0,
                    "type": "WindowsAzureActiveDirectoryRole",
                    "display": t,
                    "value": t,
                })
                .to_string())
            })
            .collect();
        Ok(Value::Multi(items))
    }

    fn f_bit_and(&mut self, a: &Args<'_>) -> Result<Value, EvalError> {
        let v1 = self.arg(a, 0)?;
        let v2 = self.arg(a, 1)?;
        if v1.is_null() || v2.is_null() {
            return Ok(Value::Null);
        }
        Ok(Value::Number(
            self.int_of(a, 0, &v1)? & self.int_of(a, 1, &v2)?,
        ))
    }

    fn f_cbool(&mut self, a: &Args<'_>) -> Result<Value, EvalError> {
        let v = self.arg(a, 0)?;
        truthy(&v).map(Value::Bool).ok_or_else(|| {
            a.invalid(format!(
                "{v} is neither a number nor True/False; \
                 compare it instead, e.g. CBool([a] = \"x\")"
            ))
        })
    }

    fn f_cdate(&mut self, a: &Args<'_>) -> Result<Value, EvalError> {
        Ok(self.date_arg(a, 0)?.map_or(Value::Null, Value::DateTime))
    }

    fn f_coalesce(&mut self, a: &Args<'_>) -> Result<Value, EvalError> {
        for e in a.args.iter().flatten() {
            let v = self.eval(e, false)?;
            if !(v.is_null() || matches!(&v, Value::Multi(x) if x.is_empty())) {
                return Ok(v);
            }
        }
        Ok(Value::Null)
    }

    fn f_convert_to_base64(&mut self, a: &Args<'_>) -> Result<Value, EvalError> {
        Ok(match self.text_arg(a, 0)? {
            None => Value::Null,
            Some(t) => {
                let bytes: Vec<u8> = t.encode_utf16().flat_map(u16::to_le_bytes).collect();
                s(base64::engine::general_purpose::STANDARD.encode(bytes))
            }
        })
    }

    fn f_convert_to_utf8_hex(&mut self, a: &Args<'_>) -> Result<Value, EvalError> {
        Ok(match self.text_arg(a, 0)? {
            None => Value::Null,
            Some(t) => {
                let mut out = String::with_capacity(t.len() * 2);
                for b in t.bytes() {
                    out.push_str(&format!("{b:02X}"));
                }
                s(out)
            }
        })
    }

    fn f_count(&mut self, a: &Args<'_>) -> Result<Value, EvalError> {
        Ok(Value::Number(match self.arg(a, 0)? {
            Value::Null => 0,
            Value::Multi(items) => items.len() as i64,
            _ => 1,
        }))
    }

    fn f_cstr(&mut self, a: &Args<'_>) -> Result<Value, EvalError> {
        Ok(self.text_arg(a, 0)?.map_or(Value::Null, Value::String))
    }

    fn f_date_add(&mut self, a: &Args<'_>) -> Result<Value, EvalError> {
        let interval = self.interval(a)?;
        let n = self.int_arg(a, 1)?;
        let Some(d) = self.date_arg(a, 2)? else {
            return Ok(Value::Null);
        };
        datetime::add(&d, interval, n)
            .map(Value::DateTime)
            .ok_or_else(|| a.invalid(format!("adding {n} to {d} leaves the calendar")))
    }

    fn f_date_diff(&mut self, a: &Args<'_>) -> Result<Value, EvalError> {
        let interval = self.interval(a)?;
        let d1 = self.date_arg(a, 1)?;
        let d2 = self.date_arg(a, 2)?;
        Ok(match (d1, d2) {
            (Some(d1), Some(d2)) => Value::Number(datetime::diff(&d1, &d2, interval)),
            _ => Value::Null,
        })
    }

    fn f_date_from_num(&mut self, a: &Args<'_>) -> Result<Value, EvalError> {
        let v = self.arg(a, 0)?;
        if v.is_null_or_empty() {
            return Ok(Value::Null);
        }
        let n = self.int_of(a, 0, &v)?;
        datetime::from_filetime(n)
            .map(Value::DateTime)
            .ok_or_else(|| a.invalid(format!("{n} is not an AD date (FILETIME ticks since 1601)")))
    }

    fn f_default_domain(&mut self) -> Result<Value, EvalError> {
        self.ctx
            .default_domain()
            .map(Value::String)
            .ok_or(EvalError::NoDefaultDomain)
    }

    fn f_guid(&mut self) -> Result<Value, EvalError> {
        let mut bytes = [0u8; 16];
        self.rng().fill(&mut bytes);
        Ok(s(uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string()))
    }

    fn f_ignore_flow_if_null_or_empty(
        &mut self,
        a: &Args<'_>,
        top: bool,
    ) -> Result<Value, EvalError> {
        let v = match &a.args[0] {
            Some(e) => self.eval(e, top)?,
            None => Value::Null,
        };
        if v.is_null_or_empty() {
            self.ignore_flow = true;
        }
        Ok(v)
    }

    fn f_iif(&mut self, a: &Args<'_>) -> Result<Value, EvalError> {
        let Some(cond) = &a.args[0] else {
            return Err(EvalError::MissingArgument {
                function: "IIF".into(),
                parameter: "condition".into(),
            });
        };
        // Entra: a null or empty attribute anywhere in the condition fails it.
        let mut missing = false;
        cond.visit(&mut |e| {
            if let super::Expr::Attribute(name) = e
                && !missing
                && self.ctx.attribute(name).is_null_or_empty()
            {
                missing = true;
            }
        });
        let holds = if missing {
            false
        } else {
            let v = self.eval(cond, false)?;
            truthy(&v).ok_or_else(|| {
                        a.invalid(format!(
                            "the condition gave {v}, which is neither true nor false; use a comparison such as [a] = \"x\""
                        ))
                    })?
        };
        if holds {
            self.arg(a, 1)
        } else {
            self.arg(a, 2)
        }
    }

    fn f_is_null(&mut self, a: &Args<'_>) -> Result<Value, EvalError> {
        let v = self.arg(a, 0)?;
        Ok(Value::Bool(
            v.is_null() || matches!(&v, Value::Multi(x) if x.is_empty()),
        ))
    }

    fn f_is_null_or_empty(&mut self, a: &Args<'_>) -> Result<Value, EvalError> {
        Ok(Value::Bool(self.arg(a, 0)?.is_null_or_empty()))
    }

    fn f_is_present(&mut self, a: &Args<'_>) -> Result<Value, EvalError> {
        Ok(Value::Bool(!self.arg(a, 0)?.is_null_or_empty()))
    }

    fn f_is_string(&mut self, a: &Args<'_>) -> Result<Value, EvalError> {
        let v = self.arg(a, 0)?;
        let first = match &v {
            Value::Multi(x) => x.first().cloned().unwrap_or(Value::Null),
            other => other.clone(),
        };
        Ok(Value::Bool(matches!(
            first,
            Value::String(_) | Value::Reference(_)
        )))
    }

    fn f_item(&mut self, a: &Args<'_>) -> Result<Value, EvalError> {
        let list = self.arg(a, 0)?;
        let index = self.int_arg(a, 1)?;
        if index < 1 {
            return Err(a.invalid(format!(
                        "index {index} is out of range; indexes start at 1 (Item([proxyAddresses], 1) is the first value)"
                    )));
        }
        let i = usize::try_from(index - 1).unwrap_or(usize::MAX);
        Ok(match list {
            Value::Multi(items) => items.into_iter().nth(i).unwrap_or(Value::Null),
            single if i == 0 => single,
            _ => Value::Null,
        })
    }

    fn f_join(&mut self, a: &Args<'_>) -> Result<Value, EvalError> {
        let sep = self.text_arg(a, 0)?.unwrap_or_default();
        let mut out = String::new();
        let mut first = true;
        let mut overflow = false;
        for e in a.args[1..].iter().flatten() {
            let v = self.eval(e, false)?;
            let mut push = |t: &str| {
                if t.is_empty() || overflow {
                    return;
                }
                let sep_len = if first { 0 } else { sep.len() };
                if out.len() + sep_len + t.len() > MAX_VALUE_BYTES {
                    overflow = true;
                    return;
                }
                if !first {
                    out.push_str(&sep);
                }
                out.push_str(t);
                first = false;
            };
            match &v {
                Value::Multi(items) => {
                    for item in items {
                        if let Some(t) = text(item) {
                            push(&t);
                        }
                    }
                }
                other => {
                    if let Some(t) = text(other) {
                        push(&t);
                    }
                }
            }
            if overflow {
                return Err(too_long(a.name()));
            }
        }
        Ok(s(out))
    }

    fn f_left(&mut self, a: &Args<'_>) -> Result<Value, EvalError> {
        let src = self.text_arg(a, 0)?;
        let n = self.int_arg(a, 1)?;
        let Some(src) = src else {
            return Ok(s(""));
        };
        Ok(if n < 0 {
            s(src)
        } else {
            s(src.chars().take(n as usize).collect::<String>())
        })
    }

    fn f_mid(&mut self, a: &Args<'_>) -> Result<Value, EvalError> {
        let src = self.text_arg(a, 0)?;
        let start = self.int_arg(a, 1)?;
        let len = self.int_arg(a, 2)?;
        if start < 1 {
            return Err(a.invalid(format!(
                "start {start} is out of range; the first character is 1"
            )));
        }
        if len < 0 {
            return Err(a.invalid(format!("length {len} cannot be negative")));
        }
        let Some(src) = src else {
            return Ok(Value::Null);
        };
        Ok(s(src
            .chars()
            .skip((start - 1) as usize)
            .take(len as usize)
            .collect::<String>()))
    }

    fn f_normalize_diacritics(&mut self, a: &Args<'_>) -> Result<Value, EvalError> {
        Ok(self
            .text_arg(a, 0)?
            .map_or(Value::Null, |t| s(txt::normalize_diacritics(&t))))
    }

    fn f_not(&mut self, a: &Args<'_>) -> Result<Value, EvalError> {
        let v = self.arg(a, 0)?;
        Ok(Value::Bool(truthy(&v) != Some(true)))
    }

    fn f_now(&mut self) -> Result<Value, EvalError> {
        Ok(Value::DateTime(self.ctx.now()))
    }

    fn f_num_from_date(&mut self, a: &Args<'_>) -> Result<Value, EvalError> {
        let Some(d) = self.date_arg(a, 0)? else {
            return Ok(Value::Null);
        };
        datetime::to_filetime(&d)
            .map(Value::Number)
            .ok_or_else(|| a.invalid(format!("{d} is before 1601 and has no AD form")))
    }

    fn f_pcase(&mut self, a: &Args<'_>) -> Result<Value, EvalError> {
        let Some(src) = self.text_arg(a, 0)? else {
            return Ok(Value::Null);
        };
        Ok(match self.text_opt(a, 1)? {
            Some(seps) if !seps.is_empty() => s(txt::title_case_with(&src, &seps)),
            _ => s(txt::title_case(&src)),
        })
    }

    fn f_redact(&mut self, a: &Args<'_>, top: bool) -> Result<Value, EvalError> {
        self.redact = true;
        match &a.args[0] {
            Some(e) => self.eval(e, top),
            None => Ok(Value::Null),
        }
    }

    fn f_remove_duplicates(&mut self, a: &Args<'_>) -> Result<Value, EvalError> {
        let v = self.arg(a, 0)?;
        Ok(match v {
            Value::Multi(items) => {
                let mut out: Vec<Value> = Vec::with_capacity(items.len());
                for item in items {
                    if !out.contains(&item) {
                        out.push(item);
                    }
                }
                Value::Multi(out)
            }
            other => other,
        })
    }

    fn f_select_unique_value(&mut self, a: &Args<'_>, top: bool) -> Result<Value, EvalError> {
        if !top {
            return Err(EvalError::NotTopLevel {
                function: "SelectUniqueValue".into(),
            });
        }
        let mut candidates = Vec::new();
        for e in a.args.iter().flatten() {
            let v = self.eval(e, false)?;
            let Some(t) = into_text(v).filter(|t| !t.is_empty()) else {
                continue;
            };
            if !self.ctx.value_exists_in_target(&t) {
                return Ok(s(t));
            }
            candidates.push(t);
        }
        if candidates.is_empty() {
            return Ok(Value::Null);
        }
        Err(EvalError::NoUniqueValue { candidates })
    }

    fn f_single_app_role_assignment(&mut self, a: &Args<'_>) -> Result<Value, EvalError> {
        let v = self.arg(a, 0)?;
        Ok(text(&v).map_or(Value::Null, |t| s(t.into_owned())))
    }

    fn f_split(&mut self, a: &Args<'_>) -> Result<Value, EvalError> {
        let Some(src) = self.text_arg(a, 0)? else {
            return Ok(Value::Null);
        };
        let delim = self.text_arg(a, 1)?.unwrap_or_default();
        if delim.is_empty() {
            return Ok(Value::Multi(vec![s(src)]));
        }
        Ok(Value::Multi(
            src.split(delim.as_str()).map(|p| s(p.trim())).collect(),
        ))
    }

    fn f_strip_spaces(&mut self, a: &Args<'_>) -> Result<Value, EvalError> {
        Ok(self
            .text_arg(a, 0)?
            .map_or(Value::Null, |t| s(t.replace(' ', ""))))
    }

    fn f_switch(&mut self, a: &Args<'_>) -> Result<Value, EvalError> {
        let source = self.arg(a, 0)?;
        let src = text(&source).unwrap_or(Cow::Borrowed("")).into_owned();
        let mut i = 2;
        while i + 1 < a.len() {
            let key = self.opt(a, i)?.unwrap_or(Value::Null);
            if text(&key).as_deref().unwrap_or("") == src {
                return Ok(self.opt(a, i + 1)?.unwrap_or(Value::Null));
            }
            i += 2;
        }
        Ok(self.opt(a, 1)?.unwrap_or(Value::Null))
    }

    fn f_change_case(&mut self, a: &Args<'_>) -> Result<Value, EvalError> {
        let Some(src) = self.text_arg(a, 0)? else {
            return Ok(Value::Null);
        };
        let culture = match self.text_opt(a, 1)? {
            Some(c) if !c.trim().is_empty() => {
                Culture::parse(c.trim()).map_err(|m| a.invalid(m))?
            }
            _ => Culture::Invariant,
        };
        Ok(s(if a.name() == "ToLower" {
            txt::to_lower(&src, culture)
        } else {
            txt::to_upper(&src, culture)
        }))
    }

    fn f_word(&mut self, a: &Args<'_>) -> Result<Value, EvalError> {
        let src = self.text_arg(a, 0)?;
        let n = self.int_arg(a, 1)?;
        let delims = self.text_arg(a, 2)?.unwrap_or_default();
        let Some(src) = src else {
            return Ok(s(""));
        };
        if n < 1 {
            return Ok(s(""));
        }
        let word = src
            .split(|c: char| delims.contains(c))
            .filter(|w| !w.is_empty())
            .nth((n - 1) as usize)
            .unwrap_or("");
        Ok(s(word))
    }

    fn interval(&mut self, a: &Args<'_>) -> Result<Interval, EvalError> {
        let t = self.text_arg(a, 0)?.unwrap_or_default();
        Interval::parse(&t).ok_or_else(|| {
            a.invalid(format!(
                "interval {t:?} is not one of yyyy (year), m (month), d (day), ww (week), h (hour), n (minute), s (second)"
            ))
        })
    }

    fn format_date_time(&mut self, a: &Args<'_>) -> Result<Value, EvalError> {
        // Graph's own form has three arguments: (source, inputFormat, outputFormat).
        let (styles_at, in_at, out_at) = if a.len() == 3 {
            (None, 1, 2)
        } else {
            (Some(1), 2, 3)
        };
        let source = self.arg(a, 0)?;
        let styles = match styles_at {
            Some(i) => match self.text_opt(a, i)? {
                Some(t) if !t.trim().is_empty() => Styles::parse(&t).map_err(|m| a.invalid(m))?,
                _ => Styles::DEFAULT,
            },
            None => Styles::DEFAULT,
        };
        let input_format = self.text_arg(a, in_at)?.unwrap_or_default();
        let output_format = self.text_arg(a, out_at)?.unwrap_or_default();
        if output_format.is_empty() {
            return Err(a.invalid("outputFormat is empty; give a format such as \"yyyy-MM-dd\""));
        }
        let d = match &source {
            Value::DateTime(d) => *d,
            other => match text(other) {
                None => return Ok(Value::Null),
                Some(t) if t.trim().is_empty() => return Ok(Value::Null),
                Some(t) => {
                    if input_format.is_empty() {
                        return Err(a.invalid(
                            "inputFormat is empty; give the source's format such as \"yyyyMMddHHmmss.fZ\"",
                        ));
                    }
                    datetime::parse_exact(&t, &input_format, styles, &self.ctx.now())
                        .map_err(|m| a.invalid(m))?
                }
            },
        };
        datetime::format(&d, &output_format)
            .map(Value::String)
            .map_err(|m| a.invalid(m))
    }

    fn instr(&mut self, a: &Args<'_>) -> Result<Value, EvalError> {
        let hay = self.text_arg(a, 0)?;
        let needle = self.text_arg(a, 1)?.unwrap_or_default();
        let start = match self.opt(a, 2)? {
            Some(v) if !v.is_null_or_empty() => self.int_of(a, 2, &v)?,
            _ => 1,
        };
        if start < 1 {
            return Err(a.invalid(format!(
                "start {start} is out of range; the first character is 1"
            )));
        }
        let text_compare = match self.opt(a, 3)? {
            None | Some(Value::Null) => false,
            Some(v) => match text(&v).as_deref().map(str::trim) {
                Some("1") => true,
                Some("0") => false,
                Some(t) if t.eq_ignore_ascii_case("vbTextCompare") => true,
                Some(t) if t.eq_ignore_ascii_case("vbBinaryCompare") => false,
                _ => {
                    return Err(a.invalid(format!(
                        "compareType {v} is not vbTextCompare or vbBinaryCompare"
                    )));
                }
            },
        };
        let Some(hay) = hay else {
            return Ok(Value::Number(0));
        };
        let hay: Vec<char> = hay.chars().collect();
        let needle: Vec<char> = needle.chars().collect();
        let from = (start - 1) as usize;
        if from > hay.len() {
            return Ok(Value::Number(0));
        }
        if needle.is_empty() {
            return Ok(Value::Number(start));
        }
        let fold = |c: char| {
            if text_compare {
                txt::lower_char(c, Culture::Invariant)
            } else {
                c
            }
        };
        let found = (from..=hay.len().saturating_sub(needle.len()))
            .find(|&i| {
                i + needle.len() <= hay.len()
                    && hay[i..i + needle.len()]
                        .iter()
                        .zip(&needle)
                        .all(|(x, y)| fold(*x) == fold(*y))
            })
            .map_or(0, |i| i as i64 + 1);
        Ok(Value::Number(found))
    }

    fn random_string(&mut self, a: &Args<'_>) -> Result<Value, EvalError> {
        let mut n = [0i64; 5];
        for (i, slot) in n.iter_mut().enumerate() {
            *slot = self.int_arg(a, i)?;
            if *slot < 0 {
                return Err(a.invalid(format!("{} cannot be negative", a.param(i))));
            }
        }
        let [length, digits, special, upper, lower] = n;
        if length > RANDOM_STRING_MAX {
            return Err(a.invalid(format!(
                "Length {length} is more than {RANDOM_STRING_MAX}, the most RandomString produces"
            )));
        }
        let minimums = digits + special + upper + lower;
        if length < minimums {
            return Err(a.invalid(format!(
                "Length {length} is less than the sum of the minimums ({minimums}); raise Length or lower the minimums"
            )));
        }
        let avoid = self.text_opt(a, 5)?.unwrap_or_default();
        let pool =
            |set: &str| -> Vec<char> { set.chars().filter(|c| !avoid.contains(*c)).collect() };
        let pools = [
            ("MinimumNumbers", pool("0123456789"), digits),
            ("MinimumSpecialCharacters", pool(SPECIAL), special),
            ("MinimumCapital", pool("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), upper),
            (
                "MinimumLowerCase",
                pool("abcdefghijklmnopqrstuvwxyz"),
                lower,
            ),
        ];
        let rng = self.rng();
        let mut out: Vec<char> = Vec::with_capacity(length as usize);
        for (name, chars, min) in &pools {
            if *min > 0 && chars.is_empty() {
                return Err(a.invalid(format!(
                    "CharactersToAvoid removes every character {name} needs"
                )));
            }
            for _ in 0..*min {
                out.push(chars[rng.gen_range(0..chars.len())]);
            }
        }
        // Digits, capitals and lower-case letters fill the rest, as in the reference's examples.
        let mut rest: Vec<char> = pools[0].1.clone();
        rest.extend(&pools[2].1);
        rest.extend(&pools[3].1);
        if rest.is_empty() {
            rest = pools[1].1.clone();
        }
        if rest.is_empty() && (out.len() as i64) < length {
            return Err(a.invalid("CharactersToAvoid leaves no characters to use"));
        }
        while (out.len() as i64) < length {
            out.push(rest[rng.gen_range(0..rest.len())]);
        }
        out.shuffle(rng);
        Ok(s(out.into_iter().collect::<String>()))
    }

    fn replace(&mut self, a: &Args<'_>) -> Result<Value, EvalError> {
        let source = self.arg(a, 0)?;
        let src = text(&source).map(Cow::into_owned);
        let has = |i| a.present(i);
        if has(1) && has(6) {
            let old = self.text_arg(a, 1)?.unwrap_or_default();
            let template = self.text_arg(a, 6)?.unwrap_or_default();
            let Some(src) = src else {
                return Ok(Value::Null);
            };
            if old.is_empty() {
                return Ok(s(template));
            }
            if replaced_len(&template, &old, &src) > MAX_VALUE_BYTES {
                return Err(too_long(a.name()));
            }
            return Ok(s(template.replace(&old, &src)));
        }
        if has(1) && has(4) {
            let old = self.text_arg(a, 1)?.unwrap_or_default();
            let new = self.text_arg(a, 4)?.unwrap_or_default();
            let Some(src) = src else {
                return Ok(Value::Null);
            };
            if old.is_empty() {
                return Ok(s(src));
            }
            if replaced_len(&src, &old, &new) > MAX_VALUE_BYTES {
                return Err(too_long(a.name()));
            }
            return Ok(s(src.replace(&old, &new)));
        }
        if has(2) && (has(4) || has(5)) {
            let pattern = self.text_arg(a, 2)?.unwrap_or_default();
            let re = regex(&pattern).map_err(|m| a.invalid(m))?;
            let group = self.text_opt(a, 3)?;
            let regex_err =
                |e: fancy_regex::Error| a.invalid(format!("regexPattern {pattern:?}: {e}"));
            if let (Some(group), true) = (&group, has(5)) {
                if src.as_deref().is_some_and(|t| !t.is_empty()) {
                    return Ok(source);
                }
                // replacementAttributeName: an attribute (`[mobile]`) or its name as text.
                let other = match &a.args[5] {
                    Some(super::Expr::String(name)) => self.ctx.attribute(name),
                    Some(e) => self.eval(e, false)?,
                    None => Value::Null,
                };
                let Some(t) = text(&other) else {
                    return Ok(Value::Null);
                };
                let caps = re.captures(&t).map_err(regex_err)?;
                return Ok(caps
                    .and_then(|c| c.name(group).map(|m| s(m.as_str())))
                    .unwrap_or(Value::Null));
            }
            if !has(4) {
                return Err(a.invalid(
                    "replacementAttributeName needs regexGroupName; give the group to take from that attribute",
                ));
            }
            let replacement = self.text_arg(a, 4)?.unwrap_or_default();
            let Some(src) = src else {
                return Ok(Value::Null);
            };
            let mut out = String::with_capacity(src.len());
            let mut last = 0;
            for caps in re.captures_iter(&src) {
                let caps = caps.map_err(regex_err)?;
                match &group {
                    Some(g) => {
                        if let Some(m) = caps.name(g) {
                            out.push_str(&src[last..m.start()]);
                            out.push_str(&replacement);
                            last = m.end();
                        }
                    }
                    None => {
                        let Some(m) = caps.get(0) else { continue };
                        out.push_str(&src[last..m.start()]);
                        expand(&replacement, &caps, &re, &src, &mut out);
                        last = m.end();
                    }
                }
                if out.len() > MAX_VALUE_BYTES {
                    return Err(too_long(a.name()));
                }
            }
            out.push_str(&src[last..]);
            return Ok(s(out));
        }
        Err(a.invalid(
            "give oldValue with replacementValue or template, or regexPattern with replacementValue, or regexPattern and regexGroupName with replacementValue or replacementAttributeName",
        ))
    }
}

/// The length of `text.replace(old, new)`, without building it (`old` is not empty).
fn replaced_len(text: &str, old: &str, new: &str) -> usize {
    if new.len() <= old.len() {
        return text.len();
    }
    let count = text.matches(old).count();
    text.len()
        .saturating_add(count.saturating_mul(new.len() - old.len()))
}

fn into_text(v: Value) -> Option<String> {
    match v {
        Value::String(s) | Value::Reference(s) => Some(s),
        other => other.as_text(),
    }
}

/// Expands a .NET replacement pattern: `$1`, `${name}`, `$$`, `$&`, `` $` ``, `$'`, `$+`, `$_`.
fn expand(
    rep: &str,
    caps: &fancy_regex::Captures<'_>,
    re: &fancy_regex::Regex,
    input: &str,
    out: &mut String,
) {
    let whole = caps.get(0);
    let mut rest = rep;
    while let Some(i) = rest.find('$') {
        // The caller refuses a result this long; stop growing it (`$_` copies the whole input).
        if out.len() > MAX_VALUE_BYTES {
            return;
        }
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let mut consumed = 1;
        match after.chars().next() {
            Some('$') => {
                out.push('$');
                consumed += 1;
            }
            Some('&') => {
                out.push_str(whole.map_or("", |m| m.as_str()));
                consumed += 1;
            }
            Some('`') => {
                out.push_str(&input[..whole.map_or(0, |m| m.start())]);
                consumed += 1;
            }
            Some('\'') => {
                out.push_str(&input[whole.map_or(input.len(), |m| m.end())..]);
                consumed += 1;
            }
            Some('_') => {
                out.push_str(input);
                consumed += 1;
            }
            Some('+') => {
                let last = (1..caps.len()).rev().find_map(|g| caps.get(g));
                out.push_str(last.map_or("", |m| m.as_str()));
                consumed += 1;
            }
            Some('{') => match after.find('}') {
                Some(close) => {
                    let name = &after[1..close];
                    let known = match name.parse::<usize>() {
                        Ok(n) => (n < caps.len()).then(|| caps.get(n)),
                        Err(_) => re
                            .capture_names()
                            .any(|c| c == Some(name))
                            .then(|| caps.name(name)),
                    };
                    match known {
                        Some(m) => {
                            out.push_str(m.map_or("", |m| m.as_str()));
                            consumed += close + 1;
                        }
                        None => out.push('$'),
                    }
                }
                None => out.push('$'),
            },
            Some(c) if c.is_ascii_digit() => {
                let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
                // The longest prefix that names an existing group, as .NET reads `$12`.
                let mut used = 0;
                for len in (1..=digits.len()).rev() {
                    if let Ok(n) = digits[..len].parse::<usize>()
                        && n < caps.len()
                    {
                        out.push_str(caps.get(n).map_or("", |m| m.as_str()));
                        used = len;
                        break;
                    }
                }
                if used == 0 {
                    out.push('$');
                } else {
                    consumed += used;
                }
            }
            _ => out.push('$'),
        }
        rest = &rest[i + consumed..];
    }
    out.push_str(rest);
}

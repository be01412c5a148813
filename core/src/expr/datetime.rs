//! Dates for the expression functions: .NET custom and standard date and time format strings
//! (for reading and writing), the lenient reading `CDate` does, AD FILETIME numbers, and the
//! `DateAdd`/`DateDiff` interval arithmetic of Visual Basic.
//!
//! Entra runs in UTC with the en-US culture: dates print as `M/d/yyyy h:mm:ss tt`, month and day
//! names are English, and a date read with a time-zone offset is converted to UTC.

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, TimeZone, Timelike, Utc};

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// One piece of a format string.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Year(usize),
    Month(usize),
    Day(usize),
    Hour12(usize),
    Hour24(usize),
    Minute(usize),
    Second(usize),
    /// Fraction digits; `true` for `F` (trailing zeros dropped, digits optional).
    Fraction(usize, bool),
    AmPm(usize),
    Offset(usize),
    Kind,
    Era,
    Lit(String),
}

/// The en-US pattern of a one-letter standard format string.
fn standard(fmt: &str) -> Option<&'static str> {
    Some(match fmt {
        "d" => "M/d/yyyy",
        "D" => "dddd, MMMM d, yyyy",
        "f" => "dddd, MMMM d, yyyy h:mm tt",
        "F" | "U" => "dddd, MMMM d, yyyy h:mm:ss tt",
        "g" => "M/d/yyyy h:mm tt",
        "G" => "M/d/yyyy h:mm:ss tt",
        "M" | "m" => "MMMM d",
        "O" | "o" => "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
        "R" | "r" => "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
        "s" => "yyyy'-'MM'-'dd'T'HH':'mm':'ss",
        "t" => "h:mm tt",
        "T" => "h:mm:ss tt",
        "u" => "yyyy'-'MM'-'dd HH':'mm':'ss'Z'",
        "Y" | "y" => "MMMM yyyy",
        _ => return None,
    })
}

/// Splits a .NET date and time format string into tokens.
fn tokenize(fmt: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = if fmt.chars().count() == 1 {
        standard(fmt)
            .ok_or_else(|| format!("{fmt:?} is not a standard date format string"))?
            .chars()
            .collect()
    } else {
        fmt.chars().collect()
    };
    let mut toks = Vec::new();
    let mut i = 0;
    let push_lit = |toks: &mut Vec<Tok>, c: char| match toks.last_mut() {
        Some(Tok::Lit(s)) => s.push(c),
        _ => toks.push(Tok::Lit(c.to_string())),
    };
    while i < chars.len() {
        let c = chars[i];
        let mut n = 1;
        while i + n < chars.len() && chars[i + n] == c {
            n += 1;
        }
        let tok = match c {
            'y' => Tok::Year(n),
            'M' => Tok::Month(n.min(4)),
            'd' => Tok::Day(n.min(4)),
            'h' => Tok::Hour12(n.min(2)),
            'H' => Tok::Hour24(n.min(2)),
            'm' => Tok::Minute(n.min(2)),
            's' => Tok::Second(n.min(2)),
            'f' | 'F' => {
                if n > 7 {
                    return Err(format!("{fmt:?} has more than 7 '{c}' fraction digits"));
                }
                Tok::Fraction(n, c == 'F')
            }
            't' => Tok::AmPm(n.min(2)),
            'z' => Tok::Offset(n.min(3)),
            'g' => Tok::Era,
            'K' => {
                n = 1;
                Tok::Kind
            }
            '\'' | '"' => {
                let mut j = i + 1;
                let mut closed = false;
                while j < chars.len() {
                    if chars[j] == '\\' && j + 1 < chars.len() {
                        push_lit(&mut toks, chars[j + 1]);
                        j += 2;
                        continue;
                    }
                    if chars[j] == c {
                        closed = true;
                        break;
                    }
                    push_lit(&mut toks, chars[j]);
                    j += 1;
                }
                if !closed {
                    return Err(format!("{fmt:?} has an unclosed {c} quote"));
                }
                i = j + 1;
                continue;
            }
            '%' => {
                // `%d` is the custom specifier `d` on its own.
                i += 1;
                continue;
            }
            '\\' => {
                let Some(&next) = chars.get(i + 1) else {
                    return Err(format!("{fmt:?} ends with a lone backslash"));
                };
                push_lit(&mut toks, next);
                i += 2;
                continue;
            }
            other => {
                for _ in 0..n {
                    push_lit(&mut toks, other);
                }
                i += n;
                continue;
            }
        };
        toks.push(tok);
        i += n;
    }
    Ok(toks)
}

/// Formats a UTC date with a .NET format string (custom or one-letter standard).
pub(crate) fn format(d: &DateTime<Utc>, fmt: &str) -> Result<String, String> {
    let toks = tokenize(fmt)?;
    let mut out = String::new();
    for t in &toks {
        match t {
            Tok::Year(n) => {
                let y = d.year();
                if *n <= 2 {
                    let v = y % 100;
                    if *n == 1 {
                        out.push_str(&v.to_string());
                    } else {
                        out.push_str(&format!("{v:02}"));
                    }
                } else {
                    out.push_str(&format!("{y:0width$}", width = *n));
                }
            }
            Tok::Month(1) => out.push_str(&d.month().to_string()),
            Tok::Month(2) => out.push_str(&format!("{:02}", d.month())),
            Tok::Month(3) => out.push_str(&MONTHS[d.month0() as usize][..3]),
            Tok::Month(_) => out.push_str(MONTHS[d.month0() as usize]),
            Tok::Day(1) => out.push_str(&d.day().to_string()),
            Tok::Day(2) => out.push_str(&format!("{:02}", d.day())),
            Tok::Day(3) => {
                out.push_str(&DAYS[d.weekday().num_days_from_sunday() as usize][..3]);
            }
            Tok::Day(_) => out.push_str(DAYS[d.weekday().num_days_from_sunday() as usize]),
            Tok::Hour12(n) => {
                let h = match d.hour() % 12 {
                    0 => 12,
                    h => h,
                };
                out.push_str(&pad(h, *n));
            }
            Tok::Hour24(n) => out.push_str(&pad(d.hour(), *n)),
            Tok::Minute(n) => out.push_str(&pad(d.minute(), *n)),
            Tok::Second(n) => out.push_str(&pad(d.second(), *n)),
            Tok::Fraction(n, trim) => {
                let digits = format!("{:09}", d.nanosecond() % 1_000_000_000);
                let mut part = &digits[..*n];
                if *trim {
                    part = part.trim_end_matches('0');
                }
                out.push_str(part);
            }
            Tok::AmPm(n) => {
                let s = if d.hour() < 12 { "AM" } else { "PM" };
                out.push_str(if *n == 1 { &s[..1] } else { s });
            }
            Tok::Offset(1) => out.push_str("+0"),
            Tok::Offset(2) => out.push_str("+00"),
            Tok::Offset(_) => out.push_str("+00:00"),
            Tok::Kind => out.push('Z'),
            Tok::Era => out.push_str("A.D."),
            Tok::Lit(s) => out.push_str(s),
        }
    }
    Ok(out)
}

fn pad(v: u32, n: usize) -> String {
    if n >= 2 {
        format!("{v:02}")
    } else {
        v.to_string()
    }
}

/// `DateTimeStyles` flags that affect reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Styles {
    pub leading: bool,
    pub trailing: bool,
    pub inner: bool,
}

impl Styles {
    /// Entra's default: RoundtripKind, AllowLeadingWhite, AllowTrailingWhite.
    pub(super) const DEFAULT: Styles = Styles {
        leading: true,
        trailing: true,
        inner: false,
    };

    /// Reads a `DateTimeStyles` list such as `"AllowWhiteSpaces, AdjustToUniversal"`.
    pub(super) fn parse(text: &str) -> Result<Styles, String> {
        let mut s = Styles {
            leading: false,
            trailing: false,
            inner: false,
        };
        for part in text
            .split([',', '|'])
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let part = part.strip_prefix("DateTimeStyles.").unwrap_or(part);
            match part.to_ascii_lowercase().as_str() {
                "allowleadingwhite" => s.leading = true,
                "allowtrailingwhite" => s.trailing = true,
                "allowinnerwhite" => s.inner = true,
                "allowwhitespaces" => {
                    s.leading = true;
                    s.trailing = true;
                    s.inner = true;
                }
                // Time-zone styles change nothing where local time is UTC.
                "none"
                | "roundtripkind"
                | "adjusttouniversal"
                | "assumelocal"
                | "assumeuniversal"
                | "nocurrentdatedefault" => {}
                _ => {
                    return Err(format!(
                        "{part:?} is not a DateTimeStyles value (use None, AllowLeadingWhite, AllowTrailingWhite, AllowInnerWhite, AllowWhiteSpaces, AdjustToUniversal, AssumeLocal, AssumeUniversal, NoCurrentDateDefault or RoundtripKind)"
                    ));
                }
            }
        }
        Ok(s)
    }
}

struct Input<'a> {
    s: &'a [char],
    pos: usize,
}

impl Input<'_> {
    fn digits(&mut self, min: usize, max: usize) -> Option<u32> {
        let start = self.pos;
        while self.pos < self.s.len() && self.pos - start < max && self.s[self.pos].is_ascii_digit()
        {
            self.pos += 1;
        }
        if self.pos - start < min {
            return None;
        }
        let mut v: u32 = 0;
        for c in &self.s[start..self.pos] {
            v = v.checked_mul(10)?.checked_add(c.to_digit(10)?)?;
        }
        Some(v)
    }

    fn word(&mut self, options: &[&str]) -> Option<usize> {
        // Longest match first, so "June" beats "Jun".
        let mut best: Option<(usize, usize)> = None;
        for (i, w) in options.iter().enumerate() {
            let len = w.chars().count();
            if self.pos + len > self.s.len() {
                continue;
            }
            let matches = self.s[self.pos..self.pos + len]
                .iter()
                .zip(w.chars())
                .all(|(a, b)| a.eq_ignore_ascii_case(&b));
            if matches && best.is_none_or(|(_, l)| len > l) {
                best = Some((i, len));
            }
        }
        let (i, len) = best?;
        self.pos += len;
        Some(i)
    }

    fn skip_ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_whitespace() {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        if self.s.get(self.pos) == Some(&c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// `+hh:mm`, `+hhmm`, `+hh`, `+h`; returns seconds east of UTC.
    fn offset(&mut self) -> Option<i64> {
        let sign = match self.s.get(self.pos)? {
            '+' => 1,
            '-' | '\u{2212}' => -1,
            _ => return None,
        };
        self.pos += 1;
        let h = self.digits(1, 2)? as i64;
        let save = self.pos;
        let colon = self.eat(':');
        let m = match self.digits(2, 2) {
            Some(m) => m as i64,
            None => {
                self.pos = if colon { save } else { self.pos };
                0
            }
        };
        if h > 14 || m > 59 {
            return None;
        }
        Some(sign * (h * 3600 + m * 60))
    }
}

#[derive(Default)]
struct Fields {
    year: Option<i32>,
    month: Option<u32>,
    day: Option<u32>,
    hour: u32,
    minute: u32,
    second: u32,
    nanos: u32,
    pm: Option<bool>,
    twelve_hour: bool,
    offset: Option<i64>,
}

impl Fields {
    fn build(self, now: &DateTime<Utc>) -> Option<DateTime<Utc>> {
        let has_date = self.year.is_some() || self.month.is_some() || self.day.is_some();
        let (y, m, d) = if has_date {
            (
                self.year.unwrap_or(now.year()),
                self.month.unwrap_or(1),
                self.day.unwrap_or(1),
            )
        } else {
            (now.year(), now.month(), now.day())
        };
        let mut hour = self.hour;
        if let Some(pm) = self.pm {
            if hour > 12 {
                return None;
            }
            hour %= 12;
            if pm {
                hour += 12;
            }
        } else if self.twelve_hour && hour > 12 {
            return None;
        }
        let naive = NaiveDate::from_ymd_opt(y, m, d)?.and_hms_nano_opt(
            hour,
            self.minute,
            self.second,
            self.nanos,
        )?;
        let utc = Utc.from_utc_datetime(&naive);
        utc.checked_sub_signed(Duration::seconds(self.offset.unwrap_or(0)))
    }
}

/// Reads `text` with a .NET custom or standard format string (`DateTime.ParseExact`); a date
/// with an offset is converted to UTC, one without is taken as UTC. Missing date parts default
/// to `now`'s date (no date at all) or to January 1st of `now`'s year.
pub(crate) fn parse_exact(
    text: &str,
    fmt: &str,
    styles: Styles,
    now: &DateTime<Utc>,
) -> Result<DateTime<Utc>, String> {
    let toks = tokenize(fmt)?;
    let chars: Vec<char> = text.chars().collect();
    let mut inp = Input { s: &chars, pos: 0 };
    let fail = || format!("{text:?} does not match the date format {fmt:?}");
    if styles.leading {
        inp.skip_ws();
    }
    let mut f = Fields::default();
    for (ti, t) in toks.iter().enumerate() {
        if styles.inner && !matches!(t, Tok::Lit(_)) {
            inp.skip_ws();
        }
        let ok = match t {
            Tok::Year(n) => {
                let v = if *n <= 2 {
                    inp.digits(if *n == 1 { 1 } else { 2 }, 2).map(|v| {
                        // .NET's two-digit year window: 00-49 -> 20xx, 50-99 -> 19xx.
                        if v < 50 {
                            2000 + v as i32
                        } else {
                            1900 + v as i32
                        }
                    })
                } else {
                    inp.digits(*n, *n).map(|v| v as i32)
                };
                v.map(|v| f.year = Some(v)).is_some()
            }
            Tok::Month(n @ (1 | 2)) => inp.digits(*n, 2).map(|v| f.month = Some(v)).is_some(),
            Tok::Month(3) => {
                let abbr: Vec<&str> = MONTHS.iter().map(|m| &m[..3]).collect();
                inp.word(&abbr)
                    .map(|i| f.month = Some(i as u32 + 1))
                    .is_some()
            }
            Tok::Month(_) => inp
                .word(&MONTHS)
                .map(|i| f.month = Some(i as u32 + 1))
                .is_some(),
            Tok::Day(n @ (1 | 2)) => inp.digits(*n, 2).map(|v| f.day = Some(v)).is_some(),
            Tok::Day(3) => {
                let abbr: Vec<&str> = DAYS.iter().map(|m| &m[..3]).collect();
                inp.word(&abbr).is_some()
            }
            Tok::Day(_) => inp.word(&DAYS).is_some(),
            Tok::Hour12(n) => {
                f.twelve_hour = true;
                inp.digits(*n, 2).map(|v| f.hour = v).is_some()
            }
            Tok::Hour24(n) => inp.digits(*n, 2).map(|v| f.hour = v).is_some(),
            Tok::Minute(n) => inp.digits(*n, 2).map(|v| f.minute = v).is_some(),
            Tok::Second(n) => inp.digits(*n, 2).map(|v| f.second = v).is_some(),
            Tok::Fraction(n, optional) => {
                let start = inp.pos;
                let min = if *optional { 0 } else { *n };
                match inp.digits(min, *n) {
                    Some(v) => {
                        let len = inp.pos - start;
                        f.nanos = if len == 0 {
                            0
                        } else {
                            v * 10u32.pow(9 - len as u32)
                        };
                        true
                    }
                    None => false,
                }
            }
            Tok::AmPm(n) => {
                let opts: &[&str] = if *n == 1 { &["A", "P"] } else { &["AM", "PM"] };
                inp.word(opts).map(|i| f.pm = Some(i == 1)).is_some()
            }
            Tok::Offset(_) => inp.offset().map(|o| f.offset = Some(o)).is_some(),
            Tok::Kind => {
                if inp.eat('Z') || inp.eat('z') {
                    f.offset = Some(0);
                } else if let Some(o) = inp.offset() {
                    f.offset = Some(o);
                }
                true
            }
            Tok::Era => {
                inp.word(&["A.D.", "AD"]);
                true
            }
            Tok::Lit(s) => {
                let mut ok = true;
                let lit: Vec<char> = s.chars().collect();
                let mut k = 0;
                while k < lit.len() {
                    let c = lit[k];
                    if c.is_whitespace() && styles.inner {
                        inp.skip_ws();
                    } else if c == '.'
                        && matches!(toks.get(ti + 1), Some(Tok::Fraction(_, true)))
                        && k + 1 == lit.len()
                        && inp.s.get(inp.pos) != Some(&'.')
                    {
                        // `.FFF` lets both the dot and the digits be absent.
                    } else if !inp.eat(c) {
                        ok = false;
                        break;
                    }
                    k += 1;
                }
                ok
            }
        };
        if !ok {
            return Err(fail());
        }
    }
    if styles.trailing {
        inp.skip_ws();
    }
    if inp.pos != chars.len() {
        return Err(fail());
    }
    f.build(now)
        .ok_or_else(|| format!("{text:?} is not a valid date"))
}

/// Reads a date the way `CDate` does: ISO 8601 (`2009-06-15T01:45:30-07:00`, `2020-03-16-07:00`,
/// `2021-08-24`), Entra's own output (`8/25/2021 5:41:18 PM`), RFC 1123, `June 15, 2009`,
/// `15 June 2009` and LDAP generalized time (`20150123105347.0Z`). Offsets convert to UTC.
pub(crate) fn parse_lenient(text: &str, now: &DateTime<Utc>) -> Option<DateTime<Utc>> {
    let t = text.trim();
    if let Some(d) = parse_iso(t, now) {
        return Some(d);
    }
    const FORMATS: &[&str] = &[
        "M/d/yyyy h:mm:ss tt",
        "M/d/yyyy h:mm tt",
        "M/d/yyyy H:mm:ss",
        "M/d/yyyy H:mm",
        "M/d/yyyy",
        "M/d/yyyy h:mm:ss ttK",
        "yyyy/M/d H:mm:ss",
        "yyyy/M/d",
        "ddd, d MMM yyyy H:mm:ss 'GMT'",
        "ddd, d MMM yyyy H:mm:ss zzz",
        "MMMM d, yyyy",
        "MMMM d, yyyy h:mm:ss tt",
        "MMMM d, yyyy H:mm:ss",
        "MMM d, yyyy",
        "d MMMM yyyy",
        "d MMM yyyy",
        "d MMMM yyyy H:mm:ss",
        "yyyyMMddHHmmss.FFFFFFFK",
        "yyyyMMddHHmmssK",
    ];
    let styles = Styles {
        leading: true,
        trailing: true,
        inner: true,
    };
    FORMATS
        .iter()
        .find_map(|f| parse_exact(t, f, styles, now).ok())
}

/// ISO 8601: `yyyy-MM-dd`, optionally `T` or space and `HH:mm[:ss[.fffffff]]`, optionally `Z`
/// or an offset (also directly after the date, as Workday writes `2020-03-16-07:00`).
fn parse_iso(t: &str, now: &DateTime<Utc>) -> Option<DateTime<Utc>> {
    let chars: Vec<char> = t.chars().collect();
    let mut inp = Input { s: &chars, pos: 0 };
    let mut f = Fields {
        year: Some(inp.digits(4, 4)? as i32),
        ..Fields::default()
    };
    if !inp.eat('-') {
        return None;
    }
    f.month = Some(inp.digits(2, 2)?);
    if !inp.eat('-') {
        return None;
    }
    f.day = Some(inp.digits(2, 2)?);
    if inp.eat('T') || inp.eat('t') || inp.eat(' ') {
        f.hour = inp.digits(2, 2)?;
        if !inp.eat(':') {
            return None;
        }
        f.minute = inp.digits(2, 2)?;
        if inp.eat(':') {
            f.second = inp.digits(2, 2)?;
            if inp.eat('.') || inp.eat(',') {
                let start = inp.pos;
                inp.digits(1, 30)?;
                let digits: String = chars[start..inp.pos].iter().take(9).collect();
                let v: u32 = digits.parse().ok()?;
                f.nanos = v * 10u32.pow(9 - digits.len() as u32);
            }
        }
    }
    if inp.eat('Z') || inp.eat('z') {
        f.offset = Some(0);
    } else if inp.pos < chars.len() {
        f.offset = Some(inp.offset()?);
    }
    if inp.pos != chars.len() {
        return None;
    }
    f.build(now)
}

/// Seconds from 1601-01-01 (FILETIME epoch) to 1970-01-01.
const FILETIME_EPOCH_OFFSET: i64 = 11_644_473_600;
const TICKS_PER_SECOND: i64 = 10_000_000;

/// An AD FILETIME (100-nanosecond ticks since 1601-01-01 UTC) as a date.
pub(crate) fn from_filetime(ticks: i64) -> Option<DateTime<Utc>> {
    if ticks < 0 {
        return None;
    }
    let secs = ticks / TICKS_PER_SECOND - FILETIME_EPOCH_OFFSET;
    let nanos = (ticks % TICKS_PER_SECOND) * 100;
    DateTime::from_timestamp(secs, nanos as u32)
}

/// A date as an AD FILETIME.
pub(crate) fn to_filetime(d: &DateTime<Utc>) -> Option<i64> {
    let secs = d.timestamp().checked_add(FILETIME_EPOCH_OFFSET)?;
    secs.checked_mul(TICKS_PER_SECOND)?
        .checked_add(i64::from(d.timestamp_subsec_nanos() / 100))
}

/// A `DateAdd`/`DateDiff` interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interval {
    Year,
    Month,
    Day,
    Week,
    Hour,
    Minute,
    Second,
}

impl Interval {
    /// `yyyy`, `m`, `d`, `ww`, `h`, `n` or `s`.
    pub(super) fn parse(s: &str) -> Option<Interval> {
        Some(match s {
            "yyyy" => Interval::Year,
            "m" => Interval::Month,
            "d" => Interval::Day,
            "ww" => Interval::Week,
            "h" => Interval::Hour,
            "n" => Interval::Minute,
            "s" => Interval::Second,
            _ => return None,
        })
    }
}

/// `DateAdd`: adds `n` intervals; months and years keep the day, clamped to the month's end.
pub(crate) fn add(d: &DateTime<Utc>, interval: Interval, n: i64) -> Option<DateTime<Utc>> {
    let months = |m: i64| -> Option<DateTime<Utc>> {
        let abs = u32::try_from(m.unsigned_abs()).ok()?;
        if m >= 0 {
            d.checked_add_months(Months::new(abs))
        } else {
            d.checked_sub_months(Months::new(abs))
        }
    };
    match interval {
        Interval::Year => months(n.checked_mul(12)?),
        Interval::Month => months(n),
        Interval::Day => d.checked_add_signed(Duration::try_days(n)?),
        Interval::Week => d.checked_add_signed(Duration::try_weeks(n)?),
        Interval::Hour => d.checked_add_signed(Duration::try_hours(n)?),
        Interval::Minute => d.checked_add_signed(Duration::try_minutes(n)?),
        Interval::Second => d.checked_add_signed(Duration::try_seconds(n)?),
    }
}

/// `DateDiff` as Visual Basic counts: whole days/hours/minutes/seconds elapsed (truncated
/// toward zero), calendar months and years by their numbers, and weeks as the number of
/// Sundays crossed.
pub(crate) fn diff(d1: &DateTime<Utc>, d2: &DateTime<Utc>, interval: Interval) -> i64 {
    let span = *d2 - *d1;
    match interval {
        Interval::Year => i64::from(d2.year() - d1.year()),
        Interval::Month => {
            i64::from(d2.year() - d1.year()) * 12 + i64::from(d2.month()) - i64::from(d1.month())
        }
        Interval::Day => span.num_days(),
        Interval::Week => {
            let week_start = |d: &DateTime<Utc>| {
                d.date_naive() - Duration::days(i64::from(d.weekday().num_days_from_sunday()))
            };
            (week_start(d2) - week_start(d1)).num_days() / 7
        }
        Interval::Hour => span.num_hours(),
        Interval::Minute => span.num_minutes(),
        Interval::Second => span.num_seconds(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    #[test]
    fn reference_format_example() {
        let now = utc(2024, 1, 1, 0, 0, 0);
        let d = parse_exact(
            "20150123105347.1Z",
            "yyyyMMddHHmmss.fZ",
            Styles::DEFAULT,
            &now,
        )
        .unwrap();
        assert_eq!(format(&d, "yyyy-MM-dd").unwrap(), "2015-01-23");
        assert_eq!(format(&d, "HH:mm:ss.fff").unwrap(), "10:53:47.100");
        let d = parse_exact("2020-12-31-08:00", "yyyy-MM-ddzzz", Styles::DEFAULT, &now).unwrap();
        assert_eq!(d, utc(2020, 12, 31, 8, 0, 0));
        let d = parse_exact(
            "3/5/2024 02:07:09 PM",
            "M/d/yyyy hh:mm:ss tt",
            Styles::DEFAULT,
            &now,
        )
        .unwrap();
        assert_eq!(d, utc(2024, 3, 5, 14, 7, 9));
        assert_eq!(
            format(&d, "M/d/yyyy h:mm:ss tt").unwrap(),
            "3/5/2024 2:07:09 PM"
        );
        assert_eq!(format(&d, "G").unwrap(), "3/5/2024 2:07:09 PM");
        assert_eq!(
            format(&d, "dddd, MMMM d, yyyy").unwrap(),
            "Tuesday, March 5, 2024"
        );
        assert_eq!(
            format(&d, "yyyy-MM-ddTHH:mm:ssK").unwrap(),
            "2024-03-05T14:07:09Z"
        );
        assert_eq!(format(&d, "o").unwrap(), "2024-03-05T14:07:09.0000000Z");
        assert_eq!(format(&d, "'Day' d\\/M").unwrap(), "Day 5/3");
        assert_eq!(format(&d, "%d").unwrap(), "5");
    }

    #[test]
    fn exact_reading_rejects_mismatches() {
        let now = utc(2024, 1, 1, 0, 0, 0);
        assert!(parse_exact("2015-01-23", "yyyyMMdd", Styles::DEFAULT, &now).is_err());
        assert!(parse_exact("20150230", "yyyyMMdd", Styles::DEFAULT, &now).is_err());
        assert!(parse_exact(" 20150123 ", "yyyyMMdd", Styles::DEFAULT, &now).is_ok());
        let none = Styles::parse("None").unwrap();
        assert!(parse_exact(" 20150123", "yyyyMMdd", none, &now).is_err());
        assert!(Styles::parse("Bogus").is_err());
        assert!(tokenize("'open").is_err());
        assert!(tokenize("Q").is_err());
        // Missing parts: the year defaults to now's.
        let d = parse_exact("03-05", "MM-dd", Styles::DEFAULT, &now).unwrap();
        assert_eq!(d, utc(2024, 3, 5, 0, 0, 0));
        let d = parse_exact("Jun 7 99", "MMM d yy", Styles::DEFAULT, &now).unwrap();
        assert_eq!(d, utc(1999, 6, 7, 0, 0, 0));
    }

    #[test]
    fn lenient_reading() {
        let now = utc(2024, 1, 1, 0, 0, 0);
        let p = |s| parse_lenient(s, &now);
        assert_eq!(p("2020-03-16-07:00"), Some(utc(2020, 3, 16, 7, 0, 0)));
        assert_eq!(p("2021-06-30+08:00"), Some(utc(2021, 6, 29, 16, 0, 0)));
        assert_eq!(
            p("2009-06-15T01:45:30-07:00"),
            Some(utc(2009, 6, 15, 8, 45, 30))
        );
        assert_eq!(p("2021-08-24"), Some(utc(2021, 8, 24, 0, 0, 0)));
        assert_eq!(
            p("2020-12-31 23:59:59-08:00"),
            Some(utc(2021, 1, 1, 7, 59, 59))
        );
        assert_eq!(
            p("8/25/2021 5:41:18 PM"),
            Some(utc(2021, 8, 25, 17, 41, 18))
        );
        assert_eq!(p("June 15, 2009"), Some(utc(2009, 6, 15, 0, 0, 0)));
        assert_eq!(
            p("Mon, 15 Jun 2009 20:45:30 GMT"),
            Some(utc(2009, 6, 15, 20, 45, 30))
        );
        assert_eq!(p("20150123105347.0Z"), Some(utc(2015, 1, 23, 10, 53, 47)));
        assert_eq!(p("not a date"), None);
        assert_eq!(p("2021-02-30"), None);
        // At the edge of the calendar an offset must not overflow.
        let max = parse_exact(
            "262143-12-31 23:00 -14:00",
            "yyyyyy-MM-dd HH:mm zzz",
            Styles::DEFAULT,
            &now,
        );
        assert!(max.is_err());
    }

    #[test]
    fn filetime_round_trip() {
        let d = from_filetime(129_699_324_000_000_000).unwrap();
        assert_eq!(d, utc(2012, 1, 1, 23, 0, 0));
        assert_eq!(to_filetime(&d), Some(129_699_324_000_000_000));
        assert!(from_filetime(-1).is_none());
    }

    #[test]
    fn visual_basic_intervals() {
        let a = utc(2021, 8, 25, 17, 41, 18);
        let b = utc(2012, 3, 16, 7, 0, 0);
        assert_eq!(diff(&a, &b, Interval::Day), -3449);
        assert_eq!(diff(&a, &b, Interval::Week), -493);
        assert_eq!(diff(&a, &b, Interval::Month), -113);
        assert_eq!(diff(&a, &b, Interval::Year), -9);
        let c = utc(2021, 1, 31, 0, 0, 0);
        assert_eq!(add(&c, Interval::Month, 1), Some(utc(2021, 2, 28, 0, 0, 0)));
        assert_eq!(add(&c, Interval::Year, -1), Some(utc(2020, 1, 31, 0, 0, 0)));
        assert_eq!(add(&c, Interval::Week, 2), Some(utc(2021, 2, 14, 0, 0, 0)));
        assert_eq!(add(&c, Interval::Day, i64::MAX), None);
    }

    proptest::proptest! {
        #[test]
        fn formats_never_panic(fmt in "[yMdhHmsfFtzKg:/ .'\"%\\a-z0-9-]{0,24}", text in "[0-9A-Za-z :/.+-]{0,24}") {
            let now = utc(2024, 1, 1, 0, 0, 0);
            let _ = format(&now, &fmt);
            let _ = parse_exact(&text, &fmt, Styles::DEFAULT, &now);
            let _ = parse_lenient(&text, &now);
        }

        #[test]
        fn format_then_parse_round_trips(secs in 0i64..253_402_300_799) {
            let d = DateTime::from_timestamp(secs, 0).unwrap();
            let now = utc(2024, 1, 1, 0, 0, 0);
            for fmt in ["yyyy-MM-ddTHH:mm:ssK", "M/d/yyyy h:mm:ss tt", "yyyyMMddHHmmss.fZ", "dddd, MMMM d, yyyy HH:mm:ss"] {
                let text = format(&d, fmt).unwrap();
                proptest::prop_assert_eq!(parse_exact(&text, fmt, Styles::DEFAULT, &now), Ok(d), "{} {}", fmt, text);
            }
        }
    }
}

//! The packed arguments of `call` (contract 0.2.0): values one after the other, each a tag byte
//! and its payload, numbers little-endian.
//!
//! | tag | value    | payload                                                  |
//! | --- | -------- | -------------------------------------------------------- |
//! | 0   | null     | none                                                     |
//! | 1   | text     | u32 length in bytes, then the UTF-8 bytes                |
//! | 2   | multi    | u32 count, then per string: u32 length, then UTF-8 bytes |
//! | 3   | boolean  | one byte, 0 or 1                                         |
//! | 4   | number   | s64                                                      |
//! | 5   | datetime | s64 seconds, then u32 nanoseconds                        |

use crate::{Timestamp, Value};

/// Tag of null.
const NULL: u8 = 0;
/// Tag of a text.
const TEXT: u8 = 1;
/// Tag of a list of strings.
const MULTI: u8 = 2;
/// Tag of a boolean.
const BOOLEAN: u8 = 3;
/// Tag of a whole number.
const NUMBER: u8 = 4;
/// Tag of a point in time.
const DATETIME: u8 = 5;

/// One argument, borrowing the call's packed bytes.
#[derive(Debug, Clone, Copy)]
pub enum Arg<'a> {
    /// The attribute is absent.
    Null,
    /// A string.
    Text(&'a str),
    /// A multi-valued attribute.
    Multi(Strings<'a>),
    /// A boolean.
    Boolean(bool),
    /// A whole number.
    Number(i64),
    /// A point in time.
    Datetime(Timestamp),
}

impl Arg<'_> {
    /// The argument as an owned [`Value`] (copies its strings).
    pub fn into_value(self) -> Value {
        match self {
            Arg::Null => Value::Null,
            Arg::Text(s) => Value::Text(s.to_string()),
            Arg::Multi(v) => Value::Multi(v.map(str::to_string).collect()),
            Arg::Boolean(b) => Value::Boolean(b),
            Arg::Number(n) => Value::Number(n),
            Arg::Datetime(t) => Value::Datetime(t),
        }
    }
}

/// The strings of a multi-valued argument, in order, borrowed (already checked to be UTF-8).
#[derive(Debug, Clone, Copy)]
pub struct Strings<'a> {
    bytes: &'a [u8],
    left: u32,
}

impl<'a> Iterator for Strings<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        if self.left == 0 {
            return None;
        }
        let mut r = Reader { rest: self.bytes };
        let s = r.text().ok()?;
        self.bytes = r.rest;
        self.left -= 1;
        Some(s)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left as usize, Some(self.left as usize))
    }
}

/// Why packed arguments could not be read. The engine never sends such bytes; a plugin sees
/// one only from a broken or foreign caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// The bytes end inside a value.
    Truncated,
    /// A tag byte that is no value's.
    UnknownTag(u8),
    /// A boolean byte that is neither 0 nor 1.
    InvalidBoolean(u8),
    /// A text that is not UTF-8.
    InvalidUtf8,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Truncated => write!(f, "the bytes end inside a value"),
            DecodeError::UnknownTag(t) => write!(f, "unknown value tag {t}"),
            DecodeError::InvalidBoolean(b) => write!(f, "boolean byte {b} is neither 0 nor 1"),
            DecodeError::InvalidUtf8 => write!(f, "a text is not UTF-8"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// The arguments of one call, read one by one from the packed bytes. After an error the
/// iterator ends.
#[derive(Debug, Clone)]
pub struct Args<'a> {
    reader: Reader<'a>,
}

impl<'a> Args<'a> {
    /// Reads `bytes`.
    pub fn new(bytes: &'a [u8]) -> Args<'a> {
        Args {
            reader: Reader { rest: bytes },
        }
    }
}

impl<'a> Iterator for Args<'a> {
    type Item = Result<Arg<'a>, DecodeError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.reader.rest.is_empty() {
            return None;
        }
        let r = self.reader.arg();
        if r.is_err() {
            self.reader.rest = &[];
        }
        Some(r)
    }
}

#[derive(Debug, Clone)]
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let (head, rest) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or(DecodeError::Truncated)?;
        self.rest = rest;
        Ok(*head)
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.rest.len() {
            return Err(DecodeError::Truncated);
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        self.take::<4>().map(u32::from_le_bytes)
    }

    fn text(&mut self) -> Result<&'a str, DecodeError> {
        let n = self.u32()? as usize;
        let bytes = self.bytes(n)?;
        // Most attribute values are ASCII, which is checked faster than the general UTF-8
        // validation does for short strings.
        if bytes.is_ascii() {
            // SAFETY: every byte is below 0x80, and ASCII bytes are valid UTF-8.
            return Ok(unsafe { std::str::from_utf8_unchecked(bytes) });
        }
        std::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8)
    }

    fn arg(&mut self) -> Result<Arg<'a>, DecodeError> {
        let [tag] = self.take::<1>()?;
        Ok(match tag {
            NULL => Arg::Null,
            TEXT => Arg::Text(self.text()?),
            MULTI => {
                let left = self.u32()?;
                let bytes = self.rest;
                for _ in 0..left {
                    self.text()?;
                }
                let used = bytes.len() - self.rest.len();
                Arg::Multi(Strings {
                    bytes: &bytes[..used],
                    left,
                })
            }
            BOOLEAN => match self.take::<1>()? {
                [0] => Arg::Boolean(false),
                [1] => Arg::Boolean(true),
                [b] => return Err(DecodeError::InvalidBoolean(b)),
            },
            NUMBER => Arg::Number(i64::from_le_bytes(self.take()?)),
            DATETIME => {
                let seconds = i64::from_le_bytes(self.take()?);
                let nanoseconds = self.u32()?;
                Arg::Datetime(Timestamp {
                    seconds,
                    nanoseconds,
                })
            }
            t => return Err(DecodeError::UnknownTag(t)),
        })
    }
}

/// Appends `value`, packed as the engine packs arguments, to `out` (for testing plugin
/// functions with the bytes the engine would send). A string longer than 4 GiB cannot be
/// packed; the engine never sends one.
pub fn encode(value: &Value, out: &mut Vec<u8>) {
    fn text(s: &str, out: &mut Vec<u8>) {
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    match value {
        Value::Null => out.push(NULL),
        Value::Text(s) => {
            out.push(TEXT);
            text(s, out);
        }
        Value::Multi(v) => {
            out.push(MULTI);
            out.extend_from_slice(&(v.len() as u32).to_le_bytes());
            for s in v {
                text(s, out);
            }
        }
        Value::Boolean(b) => out.extend_from_slice(&[BOOLEAN, u8::from(*b)]),
        Value::Number(n) => {
            out.push(NUMBER);
            out.extend_from_slice(&n.to_le_bytes());
        }
        Value::Datetime(t) => {
            out.push(DATETIME);
            out.extend_from_slice(&t.seconds.to_le_bytes());
            out.extend_from_slice(&t.nanoseconds.to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Null, Value::Null) => true,
            (Value::Text(x), Value::Text(y)) => x == y,
            (Value::Multi(x), Value::Multi(y)) => x == y,
            (Value::Boolean(x), Value::Boolean(y)) => x == y,
            (Value::Number(x), Value::Number(y)) => x == y,
            (Value::Datetime(x), Value::Datetime(y)) => {
                x.seconds == y.seconds && x.nanoseconds == y.nanoseconds
            }
            _ => false,
        }
    }

    fn decode_all(bytes: &[u8]) -> Result<Vec<Value>, DecodeError> {
        Args::new(bytes).map(|a| a.map(Arg::into_value)).collect()
    }

    fn samples() -> Vec<Value> {
        vec![
            Value::Null,
            Value::Text(String::new()),
            Value::Text("ada@contoso.com".into()),
            Value::Text("Zoë 😀".into()),
            Value::Multi(vec![]),
            Value::Multi(vec!["a".into(), String::new(), "ß".into()]),
            Value::Boolean(false),
            Value::Boolean(true),
            Value::Number(i64::MIN),
            Value::Number(-1),
            Value::Datetime(Timestamp {
                seconds: 1_700_000_000,
                nanoseconds: 999_999_999,
            }),
        ]
    }

    #[test]
    fn values_round_trip_and_have_the_documented_layout() {
        let values = samples();
        let mut bytes = Vec::new();
        for v in &values {
            encode(v, &mut bytes);
        }
        let back = decode_all(&bytes).unwrap();
        assert_eq!(back.len(), values.len());
        for (a, b) in values.iter().zip(&back) {
            assert!(same(a, b), "{a:?} came back as {b:?}");
        }
        let mut one = Vec::new();
        encode(&Value::Text("ab".into()), &mut one);
        assert_eq!(one, [1, 2, 0, 0, 0, b'a', b'b']);
        one.clear();
        encode(&Value::Number(-2), &mut one);
        assert_eq!(one, [4, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert!(decode_all(&[]).unwrap().is_empty());
    }

    #[test]
    fn truncated_and_garbled_bytes_are_typed_errors() {
        for v in samples() {
            let mut bytes = Vec::new();
            encode(&v, &mut bytes);
            for cut in 1..bytes.len() {
                assert_eq!(
                    decode_all(&bytes[..cut]).unwrap_err(),
                    DecodeError::Truncated,
                    "{v:?} cut at {cut}"
                );
            }
        }
        assert_eq!(decode_all(&[9]).unwrap_err(), DecodeError::UnknownTag(9));
        assert_eq!(
            decode_all(&[3, 2]).unwrap_err(),
            DecodeError::InvalidBoolean(2)
        );
        assert_eq!(
            decode_all(&[1, 1, 0, 0, 0, 0xff]).unwrap_err(),
            DecodeError::InvalidUtf8
        );
        assert_eq!(
            decode_all(&[2, 1, 0, 0, 0, 1, 0, 0, 0, 0xc3]).unwrap_err(),
            DecodeError::InvalidUtf8
        );
        // A huge length or count is refused without allocating or reading past the end.
        assert_eq!(
            decode_all(&[1, 0xff, 0xff, 0xff, 0xff, b'a']).unwrap_err(),
            DecodeError::Truncated
        );
        assert_eq!(
            decode_all(&[2, 0xff, 0xff, 0xff, 0xff]).unwrap_err(),
            DecodeError::Truncated
        );
        let mut args = Args::new(&[0, 9, 0]);
        assert!(matches!(args.next(), Some(Ok(Arg::Null))));
        assert_eq!(
            args.next().unwrap().unwrap_err(),
            DecodeError::UnknownTag(9)
        );
        assert!(args.next().is_none(), "the iterator ends after an error");
    }

    /// Random and mutated inputs: the decoder never panics, and what it accepts packs back to
    /// the same bytes.
    #[test]
    fn the_decoder_survives_random_bytes() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut valid = Vec::new();
        for v in samples() {
            encode(&v, &mut valid);
        }
        for round in 0..20_000 {
            let mut bytes = if round % 2 == 0 {
                let n = (next() % 40) as usize;
                (0..n).map(|_| (next() % 8) as u8).collect::<Vec<u8>>()
            } else {
                let mut b = valid.clone();
                for _ in 0..1 + next() % 4 {
                    let i = (next() as usize) % b.len();
                    b[i] = next() as u8;
                }
                b.truncate((next() as usize) % (valid.len() + 1));
                b
            };
            if let Ok(values) = decode_all(&bytes) {
                let mut again = Vec::new();
                for v in &values {
                    encode(v, &mut again);
                }
                assert_eq!(again, bytes, "{values:?}");
            }
            bytes.clear();
        }
    }
}

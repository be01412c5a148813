//! The parser: expression text to [`Expr`], with positioned errors.
//!
//! Grammar (whitespace is allowed between any two tokens):
//!
//! ```text
//! expression := operand [ ("=" | "<>" | ">" | ">=" | "<" | "<=") operand ]
//! operand    := "[" name "]" | string | number | "&H" hex | identifier [ "(" arguments ")" ]
//! arguments  := <nothing> | [expression] { "," [expression] }
//! string     := '"' { character | '\"' | '\\' } '"'
//! number     := ["-"] digit { digit }
//! ```

use std::fmt;

use super::ast::{CompareOp, Expr};

/// The longest expression Entra accepts, in characters.
pub const MAX_EXPRESSION_CHARS: usize = 10_000;

/// The deepest nesting of function calls the parser accepts.
pub(crate) const MAX_NESTING: usize = 200;

/// A syntax error, with the 1-based column (in characters) where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based column, counted in characters.
    pub column: usize,
    /// What the parser expected at that column.
    pub expected: String,
    /// What it found there.
    pub found: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "at column {}: expected {}, found {}",
            self.column, self.expected, self.found
        )
    }
}

impl std::error::Error for ParseError {}

/// Parses an expression.
///
/// A whole expression may be a function call, an attribute (`[mail]`), a constant (`"x"`, `5`)
/// or a comparison. Expressions longer than [`MAX_EXPRESSION_CHARS`] characters are refused, as
/// Entra refuses them.
pub fn parse(src: &str) -> Result<Expr, ParseError> {
    let chars: Vec<char> = src.chars().collect();
    if chars.len() > MAX_EXPRESSION_CHARS {
        return Err(ParseError {
            column: MAX_EXPRESSION_CHARS + 1,
            expected: format!("at most {MAX_EXPRESSION_CHARS} characters"),
            found: format!(
                "{} characters; split the mapping or simplify it",
                chars.len()
            ),
        });
    }
    let mut p = Parser {
        chars,
        pos: 0,
        depth: 0,
    };
    p.skip_ws();
    if p.at_end() {
        return Err(p.error("an expression"));
    }
    let e = p.expression()?;
    p.skip_ws();
    if !p.at_end() {
        return Err(p.error("end of expression"));
    }
    Ok(e)
}

impl std::str::FromStr for Expr {
    type Err = ParseError;

    /// Same as [`parse`].
    fn from_str(s: &str) -> Result<Expr, ParseError> {
        parse(s)
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn found(&self) -> String {
        match self.peek() {
            None => "end of expression".to_string(),
            Some(c) if c.is_control() || c.is_whitespace() => format!("{c:?}"),
            Some(c) => format!("'{c}'"),
        }
    }

    fn error(&self, expected: &str) -> ParseError {
        self.error_at(self.pos, expected, self.found())
    }

    fn error_at(&self, pos: usize, expected: &str, found: String) -> ParseError {
        ParseError {
            column: pos + 1,
            expected: expected.to_string(),
            found,
        }
    }

    fn expression(&mut self) -> Result<Expr, ParseError> {
        let left = self.operand()?;
        self.skip_ws();
        let op = match (self.peek(), self.peek_at(1)) {
            (Some('='), _) => Some((CompareOp::Eq, 1)),
            (Some('<'), Some('>')) => Some((CompareOp::Ne, 2)),
            (Some('<'), Some('=')) => Some((CompareOp::Le, 2)),
            (Some('<'), _) => Some((CompareOp::Lt, 1)),
            (Some('>'), Some('=')) => Some((CompareOp::Ge, 2)),
            (Some('>'), _) => Some((CompareOp::Gt, 1)),
            _ => None,
        };
        let Some((op, len)) = op else {
            return Ok(left);
        };
        self.pos += len;
        self.skip_ws();
        let right = self.operand()?;
        Ok(Expr::Compare {
            op,
            left: Box::new(left),
            right: Box::new(right),
        })
    }

    fn operand(&mut self) -> Result<Expr, ParseError> {
        const EXPECTED: &str =
            "a function, an attribute in [brackets], a \"string\", a number or a name";
        match self.peek() {
            Some('[') => self.attribute(),
            Some('"') => self.string().map(Expr::String),
            Some('&') => self.hex(),
            Some(c) if c.is_ascii_digit() => self.number(),
            Some('-') if self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) => self.number(),
            Some(c) if c.is_ascii_alphabetic() || c == '_' => self.name(),
            _ => Err(self.error(EXPECTED)),
        }
    }

    fn attribute(&mut self) -> Result<Expr, ParseError> {
        let start = self.pos;
        self.pos += 1;
        let name_start = self.pos;
        while let Some(c) = self.peek() {
            if c == ']' {
                if self.pos == name_start {
                    return Err(self.error("an attribute name"));
                }
                let name: String = self.chars[name_start..self.pos].iter().collect();
                self.pos += 1;
                return Ok(Expr::Attribute(name));
            }
            self.pos += 1;
        }
        Err(self.error_at(
            self.pos,
            "']' to close the attribute opened",
            format!("end of expression (the '[' is at column {})", start + 1),
        ))
    }

    fn string(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        self.pos += 1;
        let mut s = String::new();
        while let Some(c) = self.peek() {
            match c {
                '"' => {
                    self.pos += 1;
                    return Ok(s);
                }
                '\\' => match self.peek_at(1) {
                    Some(e @ ('"' | '\\')) => {
                        s.push(e);
                        self.pos += 2;
                    }
                    // A backslash before any other character stays as it is, so regular
                    // expressions such as "\d" keep working.
                    _ => {
                        s.push('\\');
                        self.pos += 1;
                    }
                },
                _ => {
                    s.push(c);
                    self.pos += 1;
                }
            }
        }
        Err(self.error_at(
            self.pos,
            "'\"' to close the string",
            format!(
                "end of expression (the string starts at column {})",
                start + 1
            ),
        ))
    }

    fn number(&mut self) -> Result<Expr, ParseError> {
        let start = self.pos;
        if self.peek() == Some('-') {
            self.pos += 1;
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        text.parse::<i64>().map(Expr::Number).map_err(|_| {
            self.error_at(
                start,
                "a whole number between -9223372036854775808 and 9223372036854775807",
                text.clone(),
            )
        })
    }

    fn hex(&mut self) -> Result<Expr, ParseError> {
        let start = self.pos;
        if !matches!(self.peek_at(1), Some('H' | 'h')) {
            self.pos += 1;
            return Err(self.error("'H' of a hex number such as &HFF"));
        }
        self.pos += 2;
        let digits_start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
            self.pos += 1;
        }
        if self.pos == digits_start {
            return Err(self.error("hex digits after &H"));
        }
        let digits: String = self.chars[digits_start..self.pos].iter().collect();
        i64::from_str_radix(&digits, 16)
            .map(Expr::Number)
            .map_err(|_| {
                self.error_at(
                    start,
                    "a hex number of at most 63 bits",
                    format!("&H{digits}"),
                )
            })
    }

    fn name(&mut self) -> Result<Expr, ParseError> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            self.pos += 1;
        }
        let name: String = self.chars[start..self.pos].iter().collect();
        let after_name = self.pos;
        self.skip_ws();
        if self.peek() != Some('(') {
            self.pos = after_name;
            return Ok(Expr::Identifier(name));
        }
        if self.depth >= MAX_NESTING {
            return Err(self.error_at(
                start,
                &format!("at most {MAX_NESTING} nested function calls"),
                format!("a call to {name} nested deeper"),
            ));
        }
        self.pos += 1;
        self.depth += 1;
        let args = self.arguments(&name)?;
        self.depth -= 1;
        Ok(Expr::Call { name, args })
    }

    fn arguments(&mut self, name: &str) -> Result<Vec<Option<Expr>>, ParseError> {
        let mut args = Vec::new();
        self.skip_ws();
        if self.peek() == Some(')') {
            self.pos += 1;
            return Ok(args);
        }
        loop {
            self.skip_ws();
            match self.peek() {
                Some(',') | Some(')') => args.push(None),
                None => {
                    return Err(self.error(&format!("an argument of {name} or ')'")));
                }
                _ => args.push(Some(self.expression()?)),
            }
            self.skip_ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(')') => {
                    self.pos += 1;
                    return Ok(args);
                }
                _ => return Err(self.error("',' or ')'")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, args: Vec<Option<Expr>>) -> Expr {
        Expr::Call {
            name: name.into(),
            args,
        }
    }
    fn attr(n: &str) -> Option<Expr> {
        Some(Expr::Attribute(n.into()))
    }
    fn s(v: &str) -> Option<Expr> {
        Some(Expr::String(v.into()))
    }

    #[test]
    fn parses_the_reference_shapes() {
        assert_eq!(
            parse(r#"Append([userPrincipalName], ".test")"#).unwrap(),
            call("Append", vec![attr("userPrincipalName"), s(".test")])
        );
        assert_eq!(
            parse(r#"Replace([x], , "re", , "", , )"#).unwrap(),
            call(
                "Replace",
                vec![attr("x"), None, s("re"), None, s(""), None, None]
            )
        );
        assert_eq!(
            parse("BitAnd(&HF, &HF7)").unwrap(),
            call(
                "BitAnd",
                vec![Some(Expr::Number(15)), Some(Expr::Number(247))]
            )
        );
        assert_eq!(
            parse(r#"DateAdd("d", -10, CDate([StatusHireDate]))"#).unwrap(),
            call(
                "DateAdd",
                vec![
                    s("d"),
                    Some(Expr::Number(-10)),
                    Some(call("CDate", vec![attr("StatusHireDate")]))
                ]
            )
        );
        assert_eq!(
            parse(r#"InStr("repEated","e",3,vbBinaryCompare)"#).unwrap(),
            call(
                "InStr",
                vec![
                    s("repEated"),
                    s("e"),
                    Some(Expr::Number(3)),
                    Some(Expr::Identifier("vbBinaryCompare".into()))
                ]
            )
        );
        assert_eq!(parse("Guid()").unwrap(), call("Guid", vec![]));
        assert_eq!(parse("  Guid ( )  ").unwrap(), call("Guid", vec![]));
        assert_eq!(parse("[mail]").unwrap(), Expr::Attribute("mail".into()));
        assert_eq!("[mail]".parse::<Expr>(), Ok(Expr::Attribute("mail".into())));
        assert_eq!(
            parse(r#""a\"b\\c\d""#).unwrap(),
            Expr::String("a\"b\\c\\d".into())
        );
    }

    #[test]
    fn comparisons_inside_arguments() {
        let e = parse(r#"IIF([country]="USA",[country],[department])"#).unwrap();
        let Expr::Call { args, .. } = e else {
            panic!("not a call")
        };
        assert_eq!(
            args[0],
            Some(Expr::Compare {
                op: CompareOp::Eq,
                left: Box::new(Expr::Attribute("country".into())),
                right: Box::new(Expr::String("USA".into())),
            })
        );
        for (text, op) in [
            ("=", CompareOp::Eq),
            ("<>", CompareOp::Ne),
            (">", CompareOp::Gt),
            (">=", CompareOp::Ge),
            ("<", CompareOp::Lt),
            ("<=", CompareOp::Le),
        ] {
            let e = parse(&format!("CBool([a]{text}[b])")).unwrap();
            let Expr::Call { args, .. } = e else {
                panic!("not a call")
            };
            assert!(matches!(&args[0], Some(Expr::Compare { op: o, .. }) if *o == op));
        }
    }

    #[test]
    fn error_positions() {
        let e = parse("Append([a], \"x\"").unwrap_err();
        assert_eq!(e.column, 16);
        assert_eq!(e.expected, "',' or ')'");
        assert_eq!(e.found, "end of expression");
        assert_eq!(
            e.to_string(),
            "at column 16: expected ',' or ')', found end of expression"
        );
        let e = parse("Append([a] \"x\")").unwrap_err();
        assert_eq!((e.column, e.found.as_str()), (12, "'\"'"));
        let e = parse("Append([a], \"x)").unwrap_err();
        assert_eq!(e.column, 16);
        assert!(e.expected.contains("close the string"));
        let e = parse("[abc").unwrap_err();
        assert_eq!(e.column, 5);
        let e = parse("").unwrap_err();
        assert_eq!((e.column, e.found.as_str()), (1, "end of expression"));
        let e = parse("Left(\"x\", 3) x").unwrap_err();
        assert_eq!((e.column, e.expected.as_str()), (14, "end of expression"));
        let e = parse("F(1 = 2 = 3)").unwrap_err();
        assert_eq!(e.column, 9);
        let e = parse("F(#)").unwrap_err();
        assert_eq!((e.column, e.found.as_str()), (3, "'#'"));
        let e = parse("ToLower([])").unwrap_err();
        assert_eq!(e.column, 10);
        let e = parse("X(&HZZ)").unwrap_err();
        assert_eq!(e.column, 5);
        let e = parse("X(99999999999999999999)").unwrap_err();
        assert_eq!(e.column, 3);
    }

    #[test]
    fn length_and_depth_limits() {
        let long = format!("\"{}\"", "a".repeat(MAX_EXPRESSION_CHARS - 2));
        assert!(parse(&long).is_ok());
        let too_long = format!("\"{}\"", "a".repeat(MAX_EXPRESSION_CHARS - 1));
        let e = parse(&too_long).unwrap_err();
        assert_eq!(e.column, MAX_EXPRESSION_CHARS + 1);
        let deep = format!(
            "{}1{}",
            "F(".repeat(MAX_NESTING + 1),
            ")".repeat(MAX_NESTING + 1)
        );
        assert!(parse(&deep).is_err());
        let ok = format!("{}1{}", "F(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING));
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let e = parse("Append(\"é\" \"x\")").unwrap_err();
        assert_eq!(e.column, 12);
    }
}

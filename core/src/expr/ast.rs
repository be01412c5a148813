//! The syntax tree of an expression and its canonical text.

use std::collections::BTreeSet;
use std::fmt;

/// One node of a parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A source attribute, `[name]`.
    Attribute(String),
    /// A string constant, `"text"` (escapes already resolved).
    String(String),
    /// A whole-number constant, `42`, `-10` or a VB hex literal `&HF7`.
    Number(i64),
    /// A bare name such as `vbTextCompare`, `True` or `False`.
    Identifier(String),
    /// A function call; `None` is an empty optional argument (`Replace([x], , "re", , "", , )`).
    Call {
        /// The function name, case-sensitive.
        name: String,
        /// The arguments in order.
        args: Vec<Option<Expr>>,
    },
    /// A comparison, `left op right`, as used in `IIF` and `CBool` conditions.
    Compare {
        /// The operator.
        op: CompareOp,
        /// The left operand.
        left: Box<Expr>,
        /// The right operand.
        right: Box<Expr>,
    },
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `=`
    Eq,
    /// `<>`
    Ne,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
}

impl CompareOp {
    /// The operator's text.
    pub fn symbol(self) -> &'static str {
        match self {
            CompareOp::Eq => "=",
            CompareOp::Ne => "<>",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
        }
    }

    /// The operator for a symbol (`=`, `<>`, `>`, `>=`, `<`, `<=`).
    pub fn from_symbol(s: &str) -> Option<CompareOp> {
        Some(match s {
            "=" => CompareOp::Eq,
            "<>" => CompareOp::Ne,
            ">" => CompareOp::Gt,
            ">=" => CompareOp::Ge,
            "<" => CompareOp::Lt,
            "<=" => CompareOp::Le,
            _ => return None,
        })
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

impl Expr {
    /// The canonical text of the expression: arguments separated by `", "`, comparisons with a
    /// space on each side, strings quoted with `\"` and `\\` escaped, numbers in decimal.
    ///
    /// `parse(&e.to_source()) == Ok(e)` for every expression the parser can produce. (A call whose
    /// only argument is empty, `F(<empty>)`, has no text of its own: `F()` is a call without
    /// arguments.)
    pub fn to_source(&self) -> String {
        let mut out = String::new();
        self.write_source(&mut out);
        out
    }

    fn write_source(&self, out: &mut String) {
        match self {
            Expr::Attribute(name) => {
                out.push('[');
                out.push_str(name);
                out.push(']');
            }
            Expr::String(s) => write_quoted(s, out),
            Expr::Number(n) => out.push_str(&n.to_string()),
            Expr::Identifier(name) => out.push_str(name),
            Expr::Call { name, args } => {
                out.push_str(name);
                out.push('(');
                for (i, arg) in args.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    if let Some(a) = arg {
                        a.write_source(out);
                    }
                }
                out.push(')');
            }
            Expr::Compare { op, left, right } => {
                left.write_source(out);
                out.push(' ');
                out.push_str(op.symbol());
                out.push(' ');
                right.write_source(out);
            }
        }
    }

    /// The source attributes the expression reads, by name.
    pub fn attributes(&self) -> BTreeSet<String> {
        let mut set = BTreeSet::new();
        self.visit(&mut |e| {
            if let Expr::Attribute(name) = e {
                set.insert(name.clone());
            }
        });
        set
    }

    /// The names of the functions the expression calls.
    pub fn functions(&self) -> BTreeSet<String> {
        let mut set = BTreeSet::new();
        self.visit(&mut |e| {
            if let Expr::Call { name, .. } = e {
                set.insert(name.clone());
            }
        });
        set
    }

    /// Calls `f` on this node and every node below it, parents first.
    pub fn visit(&self, f: &mut dyn FnMut(&Expr)) {
        f(self);
        match self {
            Expr::Call { args, .. } => {
                for a in args.iter().flatten() {
                    a.visit(f);
                }
            }
            Expr::Compare { left, right, .. } => {
                left.visit(f);
                right.visit(f);
            }
            _ => {}
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_source())
    }
}

/// Writes `s` as a string constant: in double quotes, with `\` and `"` escaped by a backslash.
pub(crate) fn write_quoted(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_text() {
        let e = Expr::Call {
            name: "Replace".into(),
            args: vec![
                Some(Expr::Attribute("x".into())),
                None,
                Some(Expr::String("a\"b\\c".into())),
                None,
            ],
        };
        assert_eq!(e.to_source(), r#"Replace([x], , "a\"b\\c", )"#);
        let c = Expr::Compare {
            op: CompareOp::Ge,
            left: Box::new(Expr::Number(-3)),
            right: Box::new(Expr::Identifier("vbTextCompare".into())),
        };
        assert_eq!(c.to_source(), "-3 >= vbTextCompare");
    }

    #[test]
    fn attributes_and_functions() {
        let e = Expr::Call {
            name: "Join".into(),
            args: vec![
                Some(Expr::String(".".into())),
                Some(Expr::Attribute("givenName".into())),
                Some(Expr::Call {
                    name: "ToLower".into(),
                    args: vec![Some(Expr::Attribute("surname".into()))],
                }),
            ],
        };
        assert_eq!(
            e.attributes().into_iter().collect::<Vec<_>>(),
            vec!["givenName", "surname"]
        );
        assert_eq!(
            e.functions().into_iter().collect::<Vec<_>>(),
            vec!["Join", "ToLower"]
        );
    }
}

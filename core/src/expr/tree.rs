//! Conversion between [`Expr`] and Graph's tree form, [`AttributeMappingSource`].
//!
//! Graph's `parseExpression` shows the shape: an attribute is `{type: Attribute, name, expression:
//! "[name]"}`, a constant `{type: Constant, name: value, expression: "\"value\""}` (numbers are
//! re-quoted, `"\"1\""`), and a function `{type: Function, name, expression, parameters: [{key,
//! value}]}` whose keys are the function's parameter names; omitted optional arguments are absent.
//!
//! Forms Graph does not show: a bare name (`vbTextCompare`) is a Constant whose expression is the
//! unquoted name, and a comparison is a Function whose name is the operator (`=`, `<>`, ...) with
//! parameters `left` and `right`.

use serde_json::Map;
use thiserror::Error;

use super::ast::{CompareOp, Expr, write_quoted};
use super::mapping_source::{AttributeMappingSource, MappingSourceParameter, MappingSourceType};
use super::parser::parse;
use super::signature::{parameter_key, parameter_position};

/// Why a tree could not be turned into an expression.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MappingSourceError {
    /// A node has no `name`.
    #[error("{kind:?} node without a name; set its `name` property")]
    MissingName {
        /// The node's type.
        kind: MappingSourceType,
    },
    /// A function node has parameters the function does not define.
    #[error(
        "function {function} has no parameter named {keys}; use the function's documented parameter names"
    )]
    UnknownParameters {
        /// The function.
        function: String,
        /// The unknown keys, comma-separated.
        keys: String,
    },
    /// The same parameter appears twice.
    #[error("function {function} has parameter {key} twice; keep one")]
    DuplicateParameter {
        /// The function.
        function: String,
        /// The repeated key.
        key: String,
    },
    /// A comparison node is malformed.
    #[error(
        "comparison {operator} needs exactly the parameters `left` and `right`, neither of them a comparison"
    )]
    BadComparison {
        /// The operator.
        operator: String,
    },
    /// An attribute name cannot be written as `[name]`.
    #[error("attribute name {name:?} cannot contain ']' and cannot be empty")]
    BadAttributeName {
        /// The name.
        name: String,
    },
    /// A function name is not a valid name.
    #[error("function name {name:?} is not a valid name (letters, digits and '_')")]
    BadFunctionName {
        /// The name.
        name: String,
    },
}

impl Expr {
    /// The tree form Graph uses in `attributeMappingSource` (see the module documentation).
    pub fn to_mapping_source(&self) -> AttributeMappingSource {
        self.tree_node(true)
    }

    fn tree_node(&self, top: bool) -> AttributeMappingSource {
        let node = |kind, name: String, expression: String, parameters| AttributeMappingSource {
            kind,
            name: Some(name),
            expression: Some(expression),
            parameters,
            extra: Map::new(),
        };
        match self {
            Expr::Attribute(n) => node(
                MappingSourceType::Attribute,
                n.clone(),
                self.to_source(),
                vec![],
            ),
            Expr::String(s) => node(
                MappingSourceType::Constant,
                s.clone(),
                self.to_source(),
                vec![],
            ),
            Expr::Number(n) => {
                // Graph re-quotes numeric arguments; a whole expression that is just a number
                // keeps its plain text so that it reads back as a number.
                let mut text = String::new();
                if top {
                    text = n.to_string();
                } else {
                    write_quoted(&n.to_string(), &mut text);
                }
                node(MappingSourceType::Constant, n.to_string(), text, vec![])
            }
            Expr::Identifier(n) => node(MappingSourceType::Constant, n.clone(), n.clone(), vec![]),
            Expr::Call { name, args } => {
                let parameters = args
                    .iter()
                    .enumerate()
                    .filter_map(|(i, a)| {
                        a.as_ref().map(|a| MappingSourceParameter {
                            key: parameter_key(name, i, args.len()),
                            value: a.tree_node(false),
                            extra: Map::new(),
                        })
                    })
                    .collect();
                node(
                    MappingSourceType::Function,
                    name.clone(),
                    self.to_source(),
                    parameters,
                )
            }
            Expr::Compare { op, left, right } => {
                let param = |key: &str, e: &Expr| MappingSourceParameter {
                    key: key.to_string(),
                    value: e.tree_node(false),
                    extra: Map::new(),
                };
                node(
                    MappingSourceType::Function,
                    op.symbol().to_string(),
                    self.to_source(),
                    vec![param("left", left), param("right", right)],
                )
            }
        }
    }

    /// Reads Graph's tree form. Parameters are placed by key (not by their order in the JSON);
    /// unknown keys are an error. Where a node's `expression` text agrees with the tree, it
    /// settles what the tree cannot say on its own: whether a re-quoted constant was a number,
    /// and how many empty arguments trail a call.
    pub fn from_mapping_source(src: &AttributeMappingSource) -> Result<Expr, MappingSourceError> {
        from_node(src, None)
    }
}

fn from_node(
    src: &AttributeMappingSource,
    hint: Option<&Expr>,
) -> Result<Expr, MappingSourceError> {
    let name = src
        .name
        .as_deref()
        .ok_or(MappingSourceError::MissingName { kind: src.kind })?;
    match src.kind {
        MappingSourceType::Attribute => {
            if name.is_empty() || name.contains(']') {
                return Err(MappingSourceError::BadAttributeName {
                    name: name.to_string(),
                });
            }
            Ok(Expr::Attribute(name.to_string()))
        }
        MappingSourceType::Constant => Ok(constant(name, src.expression.as_deref(), hint)),
        MappingSourceType::Function => {
            if let Some(op) = CompareOp::from_symbol(name) {
                return comparison(op, src, hint);
            }
            if name.is_empty()
                || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                || name.starts_with(|c: char| c.is_ascii_digit())
            {
                return Err(MappingSourceError::BadFunctionName {
                    name: name.to_string(),
                });
            }
            function(name, src, hint)
        }
    }
}

fn constant(name: &str, expression: Option<&str>, hint: Option<&Expr>) -> Expr {
    if let Ok(n) = name.parse::<i64>() {
        let unquoted = expression.is_some_and(|e| e.trim() == name);
        if unquoted || hint == Some(&Expr::Number(n)) {
            return Expr::Number(n);
        }
    }
    let is_name = !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if is_name
        && (expression.is_some_and(|e| e.trim() == name)
            || hint == Some(&Expr::Identifier(name.to_string())))
    {
        return Expr::Identifier(name.to_string());
    }
    Expr::String(name.to_string())
}

/// The node's own expression text, parsed, when it agrees with the node's kind and name.
fn own_hint(src: &AttributeMappingSource, name: &str) -> Option<Expr> {
    let parsed = parse(src.expression.as_deref()?).ok()?;
    match &parsed {
        Expr::Call { name: n, .. } if n == name => Some(parsed),
        Expr::Compare { op, .. } if op.symbol() == name => Some(parsed),
        _ => None,
    }
}

fn comparison(
    op: CompareOp,
    src: &AttributeMappingSource,
    hint: Option<&Expr>,
) -> Result<Expr, MappingSourceError> {
    let own = own_hint(src, op.symbol());
    let hint = own.as_ref().or(hint);
    let (hl, hr) = match hint {
        Some(Expr::Compare { left, right, .. }) => (Some(&**left), Some(&**right)),
        _ => (None, None),
    };
    let bad = || MappingSourceError::BadComparison {
        operator: op.symbol().to_string(),
    };
    if src.parameters.len() != 2 {
        return Err(bad());
    }
    let find = |key: &str| {
        src.parameters
            .iter()
            .find(|p| p.key.eq_ignore_ascii_case(key))
            .ok_or_else(bad)
    };
    let left = from_node(&find("left")?.value, hl)?;
    let right = from_node(&find("right")?.value, hr)?;
    if matches!(left, Expr::Compare { .. }) || matches!(right, Expr::Compare { .. }) {
        // `a = b = c` has no text: comparisons do not chain.
        return Err(bad());
    }
    Ok(Expr::Compare {
        op,
        left: Box::new(left),
        right: Box::new(right),
    })
}

fn function(
    name: &str,
    src: &AttributeMappingSource,
    hint: Option<&Expr>,
) -> Result<Expr, MappingSourceError> {
    let own = own_hint(src, name);
    let hint_args = match own.as_ref().or(hint) {
        Some(Expr::Call { name: n, args }) if n == name => Some(args),
        _ => None,
    };
    let mut placed: Vec<(usize, &MappingSourceParameter)> = Vec::new();
    let mut unknown = Vec::new();
    for p in &src.parameters {
        match parameter_position(name, &p.key) {
            Some(pos) => {
                if placed.iter().any(|(q, _)| *q == pos) {
                    return Err(MappingSourceError::DuplicateParameter {
                        function: name.to_string(),
                        key: p.key.clone(),
                    });
                }
                placed.push((pos, p));
            }
            None => unknown.push(p.key.clone()),
        }
    }
    if !unknown.is_empty() {
        return Err(MappingSourceError::UnknownParameters {
            function: name.to_string(),
            keys: unknown.join(", "),
        });
    }
    let mut len = placed.iter().map(|(p, _)| p + 1).max().unwrap_or(0);
    // Graph's three-argument FormatDateTime(source, inputFormat, outputFormat).
    let short_format = name == "FormatDateTime"
        && hint_args.is_some_and(|a| a.len() == 3)
        && !placed.iter().any(|(p, _)| *p == 1);
    if let Some(h) = hint_args {
        let hint_len = if short_format { h.len() + 1 } else { h.len() };
        if hint_len > len {
            len = hint_len;
        }
    }
    let mut args: Vec<Option<Expr>> = vec![None; len];
    for (pos, p) in placed {
        let hint_pos = if short_format && pos > 1 {
            pos - 1
        } else {
            pos
        };
        let child_hint = hint_args
            .and_then(|h| h.get(hint_pos))
            .and_then(Option::as_ref);
        args[pos] = Some(from_node(&p.value, child_hint)?);
    }
    if short_format && args.len() > 1 {
        args.remove(1);
    }
    if args.len() == 1 && args[0].is_none() {
        // `F()` is a call without arguments; a lone empty argument has no text of its own.
        args.clear();
    }
    Ok(Expr::Call {
        name: name.to_string(),
        args,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_graphs_parse_expression_sample() {
        let e = parse(r#"Replace([preferredLanguage], "-", , , "_", , )"#).unwrap();
        let tree = e.to_mapping_source();
        let json = serde_json::to_value(&tree).unwrap();
        assert_eq!(json["type"], "Function");
        assert_eq!(json["name"], "Replace");
        let keys: Vec<&str> = tree.parameters.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["source", "Find", "Replacement"]);
        assert_eq!(json["parameters"][1]["value"]["expression"], "\"-\"");
        assert_eq!(json["parameters"][1]["value"]["name"], "-");
        assert_eq!(
            json["parameters"][0]["value"]["expression"],
            "[preferredLanguage]"
        );
        assert_eq!(Expr::from_mapping_source(&tree).unwrap(), e);
    }

    #[test]
    fn reads_graphs_mid_sample_with_requoted_numbers() {
        let json = serde_json::json!({
            "expression": "Mid([userPrincipalName], 1, 8)",
            "name": "Mid",
            "parameters": [
                {"key": "length", "value": {"expression": "\"8\"", "name": "8", "parameters": [], "type": "Constant"}},
                {"key": "source", "value": {"expression": "[userPrincipalName]", "name": "userPrincipalName", "parameters": [], "type": "Attribute"}},
                {"key": "start", "value": {"expression": "\"1\"", "name": "1", "parameters": [], "type": "Constant"}}
            ],
            "type": "Function"
        });
        let tree: AttributeMappingSource = serde_json::from_value(json).unwrap();
        let e = Expr::from_mapping_source(&tree).unwrap();
        assert_eq!(e, parse("Mid([userPrincipalName], 1, 8)").unwrap());
        let out = serde_json::to_value(e.to_mapping_source()).unwrap();
        assert_eq!(out["parameters"][1]["value"]["expression"], "\"1\"");
        // Without the expression text a re-quoted number reads as the string it looks like.
        let mut bare = tree.clone();
        bare.expression = None;
        let e = Expr::from_mapping_source(&bare).unwrap();
        assert_eq!(e.to_source(), r#"Mid([userPrincipalName], "1", "8")"#);
    }

    #[test]
    fn unknown_and_duplicate_keys_are_errors() {
        let mut tree = parse(r#"Append([a], "b")"#).unwrap().to_mapping_source();
        tree.parameters[1].key = "tail".into();
        let err = Expr::from_mapping_source(&tree).unwrap_err();
        assert!(err.to_string().contains("tail"), "{err}");
        tree.parameters[1].key = "source".into();
        assert!(matches!(
            Expr::from_mapping_source(&tree),
            Err(MappingSourceError::DuplicateParameter { .. })
        ));
    }

    #[test]
    fn documented_replace_names_are_accepted() {
        let mut tree = parse(r#"Replace([a], "x", , , "y")"#)
            .unwrap()
            .to_mapping_source();
        tree.expression = None;
        tree.parameters[1].key = "oldValue".into();
        tree.parameters[2].key = "replacementValue".into();
        let e = Expr::from_mapping_source(&tree).unwrap();
        assert_eq!(e, parse(r#"Replace([a], "x", , , "y")"#).unwrap());
    }

    #[test]
    fn comparisons_identifiers_and_short_format() {
        for text in [
            r#"IIF([a] >= 5, vbTextCompare, "x")"#,
            r#"FormatDateTime([d], "yyyyMMdd", "yyyy-MM-dd")"#,
            r#"FormatDateTime([d], , "yyyyMMdd", "yyyy-MM-dd")"#,
            r#"Replace([x], , "re", , "", , )"#,
            "Switch([a], , \"1\", 2)",
            "MyPlugin(1, , [b])",
            "5",
            "vbTextCompare",
        ] {
            let e = parse(text).unwrap();
            assert_eq!(
                Expr::from_mapping_source(&e.to_mapping_source()).unwrap(),
                e,
                "{text}"
            );
        }
        let t = parse(r#"FormatDateTime([d], "yyyyMMdd", "yyyy-MM-dd")"#)
            .unwrap()
            .to_mapping_source();
        let keys: Vec<&str> = t.parameters.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["source", "inputFormat", "outputFormat"]);
    }
}

//! Scoping filters: which source objects an object mapping provisions.
//!
//! Graph models a scoping filter (`objectMapping.scope`) as groups of clauses: an object is in
//! scope when ANY group is true (or there is no group), and a group is true when ALL its clauses
//! are true. [`CompiledFilter`] checks the operators, arities and regular expressions once per
//! run and then evaluates objects without allocating patterns again.
//!
//! As in Entra, every operator returns false for a null or empty value, except `IS NULL` (true)
//! and `IS NOT NULL` (false). That includes the negative operators: `NOT EQUALS` and
//! `NOT REGEX MATCH` are false on null. See `docs/scoping.md`.
//!
//! Assignment scoping ("sync only assigned users and groups") is decided from the source
//! tenant's app role assignments by the observe stage, not here.

use std::fmt;

use fancy_regex::Regex;

use crate::Value;
use crate::schema::{Filter, FilterClause, FilterGroup};

/// A scoping-filter operator. Parsed from Entra's portal spelling (`NOT EQUALS`, `REGEX MATCH`)
/// or the underscore spelling (`NOT_EQUALS`), case-insensitively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// The value equals the operand (case-sensitive).
    Equals,
    /// The value is present and does not equal the operand (case-sensitive).
    NotEquals,
    /// The value is the boolean true.
    IsTrue,
    /// The value is the boolean false.
    IsFalse,
    /// The value is null or empty.
    IsNull,
    /// The value is neither null nor empty.
    IsNotNull,
    /// The value matches the regular expression (anywhere, as .NET `Regex.IsMatch`).
    RegexMatch,
    /// The value is present and does not match the regular expression.
    NotRegexMatch,
    /// The value contains the operand (case-sensitive, as .NET `String.Contains`).
    Includes,
    /// The value ends with the operand (case-sensitive).
    EndsWith,
    /// The integer value is greater than the operand.
    GreaterThan,
    /// The integer value is greater than or equal to the operand.
    GreaterThanOrEquals,
    /// `&`: the integer value AND the operand is not zero.
    BitAnd,
    /// `!&`: the integer value AND the operand is zero.
    NotBitAnd,
}

impl Operator {
    /// Every operator, in the order `docs/scoping.md` lists them.
    pub const ALL: [Operator; 14] = [
        Operator::Equals,
        Operator::NotEquals,
        Operator::IsTrue,
        Operator::IsFalse,
        Operator::IsNull,
        Operator::IsNotNull,
        Operator::RegexMatch,
        Operator::NotRegexMatch,
        Operator::Includes,
        Operator::EndsWith,
        Operator::GreaterThan,
        Operator::GreaterThanOrEquals,
        Operator::BitAnd,
        Operator::NotBitAnd,
    ];

    /// Parses an operator name: upper-cased, spaces read as `_` (`"Not Equals"`, `"NOT_EQUALS"`).
    pub fn parse(name: &str) -> Option<Operator> {
        let norm: String = name
            .trim()
            .chars()
            .map(|c| {
                if c == ' ' {
                    '_'
                } else {
                    c.to_ascii_uppercase()
                }
            })
            .collect();
        Operator::ALL
            .into_iter()
            .find(|op| op.canonical_name() == norm)
    }

    /// The underscore spelling (`NOT_EQUALS`, `&`).
    pub fn canonical_name(self) -> &'static str {
        match self {
            Operator::Equals => "EQUALS",
            Operator::NotEquals => "NOT_EQUALS",
            Operator::IsTrue => "IS_TRUE",
            Operator::IsFalse => "IS_FALSE",
            Operator::IsNull => "IS_NULL",
            Operator::IsNotNull => "IS_NOT_NULL",
            Operator::RegexMatch => "REGEX_MATCH",
            Operator::NotRegexMatch => "NOT_REGEX_MATCH",
            Operator::Includes => "INCLUDES",
            Operator::EndsWith => "ENDS_WITH",
            Operator::GreaterThan => "GREATER_THAN",
            Operator::GreaterThanOrEquals => "GREATER_THAN_OR_EQUALS",
            Operator::BitAnd => "&",
            Operator::NotBitAnd => "!&",
        }
    }

    /// How many target values the operator takes: 0 for the `IS ...` operators, 1 otherwise.
    pub fn arity(self) -> usize {
        match self {
            Operator::IsTrue | Operator::IsFalse | Operator::IsNull | Operator::IsNotNull => 0,
            _ => 1,
        }
    }

    /// True when the target value must be a whole number.
    pub fn needs_integer(self) -> bool {
        matches!(
            self,
            Operator::GreaterThan
                | Operator::GreaterThanOrEquals
                | Operator::BitAnd
                | Operator::NotBitAnd
        )
    }

    /// True when the target value is a regular expression.
    pub fn is_regex(self) -> bool {
        matches!(self, Operator::RegexMatch | Operator::NotRegexMatch)
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.canonical_name())
    }
}

/// Where a clause sits in a filter, for messages: the group's position and name, the clause's
/// position (all 1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClauseLocation {
    /// 1-based position of the group in `groups`.
    pub group: usize,
    /// The group's name (may be empty).
    pub group_name: String,
    /// 1-based position of the clause in the group.
    pub clause: usize,
}

impl fmt::Display for ClauseLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group_name.is_empty() {
            write!(f, "filter group {}, clause {}", self.group, self.clause)
        } else {
            write!(
                f,
                "filter group {} ('{}'), clause {}",
                self.group, self.group_name, self.clause
            )
        }
    }
}

/// A scoping filter that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScopeError {
    /// The operator name is not one Entra knows.
    #[error(
        "{at}: unknown operator '{operator}'; use one of EQUALS, NOT EQUALS, IS TRUE, IS FALSE, \
         IS NULL, IS NOT NULL, REGEX MATCH, NOT REGEX MATCH, INCLUDES, ENDS_WITH, GREATER_THAN, \
         GREATER_THAN_OR_EQUALS, &, !&"
    )]
    UnknownOperator {
        /// Where.
        at: ClauseLocation,
        /// The operator as written.
        operator: String,
    },
    /// The clause has the wrong number of target values.
    #[error(
        "{at}: {operator} takes {expected} target value(s) but has {found}; \
         set targetOperand.values to {expected} value(s)"
    )]
    Arity {
        /// Where.
        at: ClauseLocation,
        /// The operator.
        operator: Operator,
        /// Values expected.
        expected: usize,
        /// Values found.
        found: usize,
    },
    /// The regular expression does not compile.
    #[error("{at}: invalid regular expression '{pattern}': {message}; fix the pattern")]
    BadRegex {
        /// Where.
        at: ClauseLocation,
        /// The pattern.
        pattern: String,
        /// The compiler's message.
        message: String,
    },
    /// An integer operator has a target value that is not a whole number.
    #[error(
        "{at}: {operator} compares whole numbers but the target value is '{value}'; use an integer"
    )]
    NotInteger {
        /// Where.
        at: ClauseLocation,
        /// The operator.
        operator: Operator,
        /// The value as written.
        value: String,
    },
    /// The clause names no source attribute.
    #[error("{at}: sourceOperandName is empty; name the source attribute to test")]
    NoOperand {
        /// Where.
        at: ClauseLocation,
    },
}

/// The operand of a compiled clause.
#[derive(Debug, Clone)]
enum Operand {
    None,
    Text(String),
    Integer(i64),
    Pattern(Box<Regex>),
}

/// One compiled clause.
#[derive(Debug, Clone)]
pub struct CompiledClause {
    attribute: String,
    operator: Operator,
    written: String,
    operand: Operand,
}

impl CompiledClause {
    /// Checks and compiles one clause (operator, arity, operand type, regex).
    pub fn compile(
        clause: &FilterClause,
        at: ClauseLocation,
    ) -> Result<CompiledClause, ScopeError> {
        let operator =
            Operator::parse(&clause.operator_name).ok_or_else(|| ScopeError::UnknownOperator {
                at: at.clone(),
                operator: clause.operator_name.clone(),
            })?;
        if clause.source_operand_name.trim().is_empty() {
            return Err(ScopeError::NoOperand { at });
        }
        let values = &clause.target_operand.values;
        if values.len() != operator.arity() {
            return Err(ScopeError::Arity {
                at,
                operator,
                expected: operator.arity(),
                found: values.len(),
            });
        }
        let operand = match values.first() {
            None => Operand::None,
            Some(v) if operator.needs_integer() => match v.trim().parse::<i64>() {
                Ok(n) => Operand::Integer(n),
                Err(_) => {
                    return Err(ScopeError::NotInteger {
                        at,
                        operator,
                        value: v.clone(),
                    });
                }
            },
            Some(v) if operator.is_regex() => match Regex::new(v) {
                Ok(re) => Operand::Pattern(Box::new(re)),
                Err(e) => {
                    return Err(ScopeError::BadRegex {
                        at,
                        pattern: v.clone(),
                        message: e.to_string(),
                    });
                }
            },
            Some(v) => Operand::Text(v.clone()),
        };
        Ok(CompiledClause {
            attribute: clause.source_operand_name.clone(),
            operator,
            written: values.first().cloned().unwrap_or_default(),
            operand,
        })
    }

    /// The source attribute this clause tests.
    pub fn attribute(&self) -> &str {
        &self.attribute
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// Evaluates the clause on a value.
    ///
    /// A multi-valued value is tested element by element: a positive operator is true when any
    /// element satisfies it, and `NOT EQUALS`, `NOT REGEX MATCH` and `!&` are true when the value
    /// is present and no element satisfies the positive form.
    pub fn eval(&self, value: &Value) -> bool {
        // Null, empty, and lists holding only empty values are all "null or empty".
        let items: Vec<Value> = value
            .as_list()
            .into_iter()
            .filter(|v| !v.is_null_or_empty())
            .collect();
        match self.operator {
            Operator::IsNull => return items.is_empty(),
            Operator::IsNotNull => return !items.is_empty(),
            _ if items.is_empty() => return false,
            _ => {}
        }
        let any = |f: &dyn Fn(&Value) -> bool| items.iter().any(f);
        match (&self.operator, &self.operand) {
            (Operator::Equals, Operand::Text(t)) => any(&|v| equals(v, t)),
            (Operator::NotEquals, Operand::Text(t)) => !any(&|v| equals(v, t)),
            (Operator::IsTrue, _) => any(&|v| as_bool(v) == Some(true)),
            (Operator::IsFalse, _) => any(&|v| as_bool(v) == Some(false)),
            (Operator::RegexMatch, Operand::Pattern(re)) => any(&|v| regex_match(re, v)),
            (Operator::NotRegexMatch, Operand::Pattern(re)) => !any(&|v| regex_match(re, v)),
            (Operator::Includes, Operand::Text(t)) => {
                any(&|v| v.as_text().is_some_and(|s| s.contains(t.as_str())))
            }
            (Operator::EndsWith, Operand::Text(t)) => {
                any(&|v| v.as_text().is_some_and(|s| s.ends_with(t.as_str())))
            }
            (Operator::GreaterThan, Operand::Integer(n)) => {
                any(&|v| as_int(v).is_some_and(|x| x > *n))
            }
            (Operator::GreaterThanOrEquals, Operand::Integer(n)) => {
                any(&|v| as_int(v).is_some_and(|x| x >= *n))
            }
            (Operator::BitAnd, Operand::Integer(n)) => {
                any(&|v| as_int(v).is_some_and(|x| x & n != 0))
            }
            (Operator::NotBitAnd, Operand::Integer(n)) => {
                // Present, a whole number, and no bit of the mask set.
                items.iter().any(|v| as_int(v).is_some())
                    && !any(&|v| as_int(v).is_some_and(|x| x & n != 0))
            }
            // compile() pairs every operator with its operand kind; other pairs cannot occur.
            _ => false,
        }
    }

    /// The clause as text, for example `department EQUALS 'Sales'`.
    pub fn describe(&self) -> String {
        if self.operator.arity() == 0 {
            format!("{} {}", self.attribute, self.operator)
        } else {
            format!("{} {} '{}'", self.attribute, self.operator, self.written)
        }
    }
}

fn equals(v: &Value, t: &str) -> bool {
    v.same_as(&Value::String(t.to_string()))
}

fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => Some(*n),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn regex_match(re: &Regex, v: &Value) -> bool {
    // A pattern that exceeds the backtracking limit on this value counts as no match.
    v.as_text()
        .is_some_and(|s| re.is_match(&s).unwrap_or(false))
}

/// One compiled group: all clauses must be true.
#[derive(Debug, Clone)]
struct CompiledGroup {
    name: String,
    clauses: Vec<CompiledClause>,
}

/// A scoping filter checked and compiled once per run.
#[derive(Debug, Clone, Default)]
pub struct CompiledFilter {
    groups: Vec<CompiledGroup>,
    input_groups: Vec<CompiledGroup>,
}

fn compile_groups(groups: &[FilterGroup]) -> Result<Vec<CompiledGroup>, ScopeError> {
    groups
        .iter()
        .enumerate()
        .map(|(gi, g)| {
            let clauses = g
                .clauses
                .iter()
                .enumerate()
                .map(|(ci, c)| {
                    CompiledClause::compile(
                        c,
                        ClauseLocation {
                            group: gi + 1,
                            group_name: g.name.clone(),
                            clause: ci + 1,
                        },
                    )
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(CompiledGroup {
                name: g.name.clone(),
                clauses,
            })
        })
        .collect()
}

fn any_group(groups: &[CompiledGroup], attribute: &dyn Fn(&str) -> Value) -> bool {
    groups.is_empty()
        || groups
            .iter()
            .any(|g| g.clauses.iter().all(|c| c.eval(&attribute(&c.attribute))))
}

impl CompiledFilter {
    /// Checks and compiles a filter's `groups` and `inputFilterGroups`.
    pub fn compile(filter: &Filter) -> Result<CompiledFilter, ScopeError> {
        Ok(CompiledFilter {
            groups: compile_groups(&filter.groups)?,
            input_groups: compile_groups(&filter.input_filter_groups)?,
        })
    }

    /// Compiles an optional filter; `None` (no scoping filter) keeps everything in scope.
    pub fn compile_optional(filter: Option<&Filter>) -> Result<CompiledFilter, ScopeError> {
        filter.map_or_else(|| Ok(CompiledFilter::default()), CompiledFilter::compile)
    }

    /// True when the object is in scope: any group true, or no group at all.
    /// `attribute` returns the object's value of a source attribute (`Value::Null` if absent).
    pub fn matches(&self, attribute: &dyn Fn(&str) -> Value) -> bool {
        any_group(&self.groups, attribute)
    }

    /// True when the object passes the `inputFilterGroups` (or there are none). Objects that stop
    /// passing them are left alone rather than deprovisioned.
    pub fn matches_input(&self, attribute: &dyn Fn(&str) -> Value) -> bool {
        any_group(&self.input_groups, attribute)
    }

    /// Why an object is out of scope, naming the first false clause of each group, for example
    /// `department EQUALS 'Sales' is false (value 'HR')`. `None` when the object is in scope.
    pub fn explain(&self, attribute: &dyn Fn(&str) -> Value) -> Option<String> {
        if self.matches(attribute) {
            return None;
        }
        let reasons: Vec<String> = self
            .groups
            .iter()
            .enumerate()
            .filter_map(|(gi, g)| {
                g.clauses.iter().find_map(|c| {
                    let v = attribute(&c.attribute);
                    if c.eval(&v) {
                        return None;
                    }
                    let shown = match &v {
                        Value::Null => "null".to_string(),
                        other => format!("'{other}'"),
                    };
                    let reason = format!("{} is false (value {shown})", c.describe());
                    Some(if self.groups.len() == 1 {
                        reason
                    } else if g.name.is_empty() {
                        format!("group {}: {reason}", gi + 1)
                    } else {
                        format!("group {} ('{}'): {reason}", gi + 1, g.name)
                    })
                })
            })
            .collect();
        Some(reasons.join("; "))
    }

    /// True when the filter has no scoping group (everything is in scope).
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

#[cfg(test)]
mod tests;

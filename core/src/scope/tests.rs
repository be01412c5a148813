use super::*;
use crate::schema::FilterOperand;
use proptest::prelude::*;
use std::collections::HashMap;

fn clause(op: &str, attr: &str, values: &[&str]) -> FilterClause {
    FilterClause {
        operator_name: op.to_string(),
        source_operand_name: attr.to_string(),
        target_operand: FilterOperand {
            values: values.iter().map(|s| s.to_string()).collect(),
            extra: Default::default(),
        },
        extra: Default::default(),
    }
}

fn at() -> ClauseLocation {
    ClauseLocation {
        group: 1,
        group_name: "g".into(),
        clause: 1,
    }
}

/// Evaluates one clause on one value.
fn eval(op: &str, values: &[&str], v: Value) -> bool {
    CompiledClause::compile(&clause(op, "a", values), at())
        .unwrap()
        .eval(&v)
}

fn s(x: &str) -> Value {
    Value::string(x)
}

fn empty() -> Value {
    Value::string("")
}

fn filter(groups: Vec<Vec<FilterClause>>) -> Filter {
    Filter {
        groups: groups
            .into_iter()
            .enumerate()
            .map(|(i, clauses)| FilterGroup {
                name: format!("group{i}"),
                clauses,
                extra: Default::default(),
            })
            .collect(),
        ..Default::default()
    }
}

#[test]
fn operator_spellings() {
    for (text, op) in [
        ("EQUALS", Operator::Equals),
        ("equals", Operator::Equals),
        ("NOT EQUALS", Operator::NotEquals),
        ("Not_Equals", Operator::NotEquals),
        ("IS TRUE", Operator::IsTrue),
        ("IS_FALSE", Operator::IsFalse),
        ("IS NULL", Operator::IsNull),
        ("is not null", Operator::IsNotNull),
        ("REGEX MATCH", Operator::RegexMatch),
        ("NOT_REGEX_MATCH", Operator::NotRegexMatch),
        ("Includes", Operator::Includes),
        ("ENDS_WITH", Operator::EndsWith),
        ("Ends With", Operator::EndsWith),
        ("Greater_Than", Operator::GreaterThan),
        ("Greater_Than_OR_EQUALS", Operator::GreaterThanOrEquals),
        ("&", Operator::BitAnd),
        ("!&", Operator::NotBitAnd),
    ] {
        assert_eq!(Operator::parse(text), Some(op), "{text}");
    }
    assert_eq!(Operator::parse("LIKE"), None);
    assert_eq!(Operator::parse("EQUAL"), None);
}

#[test]
fn equals_is_case_sensitive_and_false_on_null() {
    assert!(eval("EQUALS", &["Sales"], s("Sales")));
    assert!(!eval("EQUALS", &["Sales"], s("sales")));
    assert!(!eval("EQUALS", &["Sales"], Value::Null));
    assert!(!eval("EQUALS", &[""], empty()));
    assert!(eval("EQUALS", &["5"], Value::Number(5)));
    assert!(eval("EQUALS", &["True"], Value::Bool(true)));
    assert!(eval("EQUALS", &["true"], Value::Bool(true)));
}

#[test]
fn not_equals_is_false_on_null() {
    assert!(eval("NOT EQUALS", &["Sales"], s("HR")));
    assert!(eval("NOT EQUALS", &["Sales"], s("sales")));
    assert!(!eval("NOT EQUALS", &["Sales"], s("Sales")));
    assert!(!eval("NOT EQUALS", &["Sales"], Value::Null));
    assert!(!eval("NOT EQUALS", &["Sales"], empty()));
}

#[test]
fn is_true_and_is_false() {
    assert!(eval("IS TRUE", &[], Value::Bool(true)));
    assert!(eval("IS TRUE", &[], s("True")));
    assert!(!eval("IS TRUE", &[], Value::Bool(false)));
    assert!(!eval("IS TRUE", &[], Value::Null));
    assert!(!eval("IS TRUE", &[], s("yes")));
    assert!(eval("IS FALSE", &[], Value::Bool(false)));
    assert!(eval("IS FALSE", &[], s("false")));
    assert!(!eval("IS FALSE", &[], Value::Bool(true)));
    assert!(!eval("IS FALSE", &[], Value::Null));
    assert!(!eval("IS FALSE", &[], empty()));
}

#[test]
fn is_null_and_is_not_null() {
    assert!(eval("IS NULL", &[], Value::Null));
    assert!(eval("IS NULL", &[], empty()));
    assert!(eval("IS NULL", &[], Value::Multi(vec![])));
    assert!(!eval("IS NULL", &[], s("x")));
    assert!(!eval("IS NULL", &[], Value::Bool(false)));
    assert!(eval("IS NOT NULL", &[], s("x")));
    assert!(eval("IS NOT NULL", &[], Value::Number(0)));
    assert!(!eval("IS NOT NULL", &[], Value::Null));
    assert!(!eval("IS NOT NULL", &[], empty()));
}

#[test]
fn regex_match_searches_like_dotnet() {
    assert!(eval(
        "REGEX MATCH",
        &[r".*\@contoso.com"],
        s("ann@contoso.com")
    ));
    assert!(eval("REGEX MATCH", &["([1-9][0-9])"], s("a12b")));
    assert!(!eval("REGEX MATCH", &["^[0-9]+$"], s("a12b")));
    assert!(eval("REGEX MATCH", &["(1[0-9]{6})"], s("1234567")));
    // .NET constructs that need backtracking support.
    assert!(eval("REGEX MATCH", &[r"^(?!temp).*"], s("staff")));
    assert!(!eval("REGEX MATCH", &[r"^(?!temp).*"], s("temp01")));
    assert!(!eval("REGEX MATCH", &[".*"], Value::Null));
    assert!(!eval("REGEX MATCH", &[".*"], empty()));
}

#[test]
fn not_regex_match_is_false_on_null() {
    assert!(eval("NOT REGEX MATCH", &["^ext_"], s("ann")));
    assert!(!eval("NOT REGEX MATCH", &["^ext_"], s("ext_ann")));
    assert!(!eval("NOT REGEX MATCH", &["^ext_"], Value::Null));
    assert!(!eval("NOT REGEX MATCH", &["^ext_"], empty()));
}

#[test]
fn includes_and_ends_with_are_case_sensitive() {
    assert!(eval("Includes", &["ale"], s("Sales")));
    assert!(!eval("Includes", &["SAL"], s("Sales")));
    assert!(!eval("Includes", &["a"], Value::Null));
    assert!(!eval("Includes", &[""], empty()));
    assert!(eval("ENDS_WITH", &["@contoso.com"], s("a@contoso.com")));
    assert!(!eval("ENDS_WITH", &["@Contoso.com"], s("a@contoso.com")));
    assert!(!eval("ENDS_WITH", &["x"], Value::Null));
}

#[test]
fn greater_than_compares_integers_only() {
    assert!(eval("Greater_Than", &["10"], Value::Number(11)));
    assert!(eval("Greater_Than", &["10"], s("11")));
    assert!(!eval("Greater_Than", &["10"], Value::Number(10)));
    assert!(!eval("Greater_Than", &["10"], s("abc")));
    assert!(!eval("Greater_Than", &["10"], Value::Null));
    assert!(eval("Greater_Than_OR_EQUALS", &["10"], Value::Number(10)));
    assert!(!eval("Greater_Than_OR_EQUALS", &["10"], Value::Number(9)));
    assert!(!eval("Greater_Than_OR_EQUALS", &["10"], empty()));
    // Lexically greater but numerically smaller.
    assert!(!eval("Greater_Than", &["10"], s("9")));
}

#[test]
fn bitwise_and_operators() {
    // userAccountControl 514 = 512 (normal) | 2 (disabled).
    assert!(eval("&", &["2"], Value::Number(514)));
    assert!(!eval("&", &["2"], Value::Number(512)));
    assert!(!eval("&", &["2"], Value::Null));
    assert!(eval("!&", &["2"], Value::Number(512)));
    assert!(!eval("!&", &["2"], Value::Number(514)));
    assert!(!eval("!&", &["2"], Value::Null));
    assert!(!eval("!&", &["2"], s("abc")));
}

#[test]
fn multi_valued_values_test_each_element() {
    let phones = Value::Multi(vec![s("+1 555"), s("+44 20")]);
    assert!(eval("Includes", &["+44"], phones.clone()));
    assert!(!eval("NOT EQUALS", &["+1 555"], phones.clone()));
    assert!(eval("NOT EQUALS", &["+33"], phones));
    let blanks = Value::Multi(vec![empty(), empty()]);
    assert!(!eval("NOT EQUALS", &["+33"], blanks.clone()));
    assert!(!eval("NOT REGEX MATCH", &["x"], blanks.clone()));
    assert!(eval("IS NULL", &[], blanks.clone()));
    assert!(!eval("IS NOT NULL", &[], blanks));
}

#[test]
fn compile_errors_name_the_group_and_clause() {
    let f = filter(vec![
        vec![clause("EQUALS", "department", &["Sales"])],
        vec![
            clause("EQUALS", "department", &["HR"]),
            clause("LIKE", "city", &["x"]),
        ],
    ]);
    let e = CompiledFilter::compile(&f).unwrap_err();
    assert!(matches!(e, ScopeError::UnknownOperator { .. }));
    assert_eq!(
        e.to_string().split(';').next().unwrap(),
        "filter group 2 ('group1'), clause 2: unknown operator 'LIKE'"
    );
    let e = CompiledFilter::compile(&filter(vec![vec![clause("REGEX MATCH", "mail", &["[a-"])]]))
        .unwrap_err();
    assert!(matches!(e, ScopeError::BadRegex { .. }), "{e}");
    let e =
        CompiledFilter::compile(&filter(vec![vec![clause("IS TRUE", "a", &["x"])]])).unwrap_err();
    assert!(
        matches!(
            e,
            ScopeError::Arity {
                expected: 0,
                found: 1,
                ..
            }
        ),
        "{e}"
    );
    let e = CompiledFilter::compile(&filter(vec![vec![clause("&", "a", &["x"])]])).unwrap_err();
    assert!(matches!(e, ScopeError::NotInteger { .. }), "{e}");
    let e =
        CompiledFilter::compile(&filter(vec![vec![clause("EQUALS", " ", &["x"])]])).unwrap_err();
    assert!(matches!(e, ScopeError::NoOperand { .. }), "{e}");
}

#[test]
fn no_groups_means_everything_in_scope() {
    let f = CompiledFilter::compile(&Filter::default()).unwrap();
    assert!(f.matches(&|_| Value::Null));
    assert!(f.explain(&|_| Value::Null).is_none());
    let none = CompiledFilter::compile_optional(None).unwrap();
    assert!(none.matches(&|_| Value::Null));
    assert!(none.is_empty());
}

#[test]
fn explain_names_the_false_clause_and_the_value() {
    let f = CompiledFilter::compile(&filter(vec![vec![
        clause("IS NOT NULL", "mail", &[]),
        clause("EQUALS", "department", &["Sales"]),
    ]]))
    .unwrap();
    let obj = |name: &str| match name {
        "mail" => s("a@b.c"),
        "department" => s("HR"),
        _ => Value::Null,
    };
    assert!(!f.matches(&obj));
    assert_eq!(
        f.explain(&obj).unwrap(),
        "department EQUALS 'Sales' is false (value 'HR')"
    );
    let nulls = |_: &str| Value::Null;
    assert_eq!(
        f.explain(&nulls).unwrap(),
        "mail IS_NOT_NULL is false (value null)"
    );
    let ok = |name: &str| match name {
        "mail" => s("a@b.c"),
        _ => s("Sales"),
    };
    assert!(f.explain(&ok).is_none());
}

#[test]
fn explain_lists_every_group() {
    let f = CompiledFilter::compile(&filter(vec![
        vec![clause("EQUALS", "department", &["Sales"])],
        vec![clause("ENDS_WITH", "mail", &["@contoso.com"])],
    ]))
    .unwrap();
    let obj = |name: &str| match name {
        "department" => s("HR"),
        _ => s("a@fabrikam.com"),
    };
    assert_eq!(
        f.explain(&obj).unwrap(),
        "group 1 ('group0'): department EQUALS 'Sales' is false (value 'HR'); \
         group 2 ('group1'): mail ENDS_WITH '@contoso.com' is false (value 'a@fabrikam.com')"
    );
}

#[test]
fn input_filter_groups_are_separate() {
    let mut f = filter(vec![]);
    f.input_filter_groups = vec![FilterGroup {
        name: "in".into(),
        clauses: vec![clause("EQUALS", "country", &["FR"])],
        extra: Default::default(),
    }];
    let c = CompiledFilter::compile(&f).unwrap();
    let obj = |_: &str| s("DE");
    assert!(c.matches(&obj));
    assert!(!c.matches_input(&obj));
}

#[test]
fn custom_example_scope_behaves() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/schema-custom.json");
    let schema = crate::schema::load_file(path).unwrap();
    let (_, users) = schema.object_mapping("User").unwrap();
    let f = CompiledFilter::compile_optional(users.scope.as_ref()).unwrap();
    let user = |attrs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            attrs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| Value::from(*v))
                .unwrap_or(Value::Null)
        }
    };
    assert!(f.matches(&user(&[
        ("department", "Sales"),
        ("accountEnabled", "True")
    ])));
    assert!(!f.matches(&user(&[
        ("department", "Sales"),
        ("accountEnabled", "False")
    ])));
    assert!(f.matches(&user(&[
        ("department", "R&D"),
        ("userPrincipalName", "a@contoso.com"),
        ("employeeType", "Employee")
    ])));
    // NOT EQUALS on a null employeeType is false, so the group fails.
    assert!(!f.matches(&user(&[
        ("department", "R&D"),
        ("userPrincipalName", "a@contoso.com")
    ])));
}

/// One generated clause: an attribute index, an expected value, and whether it tests equality.
fn arb_clause() -> impl Strategy<Value = (usize, String, bool)> {
    (
        0usize..3,
        prop::sample::select(vec!["a", "b", "c"]),
        any::<bool>(),
    )
        .prop_map(|(i, v, eq)| (i, v.to_string(), eq))
}

proptest! {
    /// An object is in scope iff some group has all its clauses true (or there is no group).
    #[test]
    fn or_of_and_semantics(
        groups in prop::collection::vec(prop::collection::vec(arb_clause(), 0..4), 0..4),
        values in prop::collection::vec(prop::option::of(prop::sample::select(vec!["a", "b", "c"])), 3),
    ) {
        let names = ["x", "y", "z"];
        let f = filter(groups.iter().map(|g| g.iter().map(|(i, v, eq)| {
            clause(if *eq { "EQUALS" } else { "NOT EQUALS" }, names[*i], &[v.as_str()])
        }).collect()).collect());
        let compiled = CompiledFilter::compile(&f).unwrap();
        let obj: HashMap<&str, Value> = names.iter().zip(&values)
            .map(|(n, v)| (*n, v.map(Value::from).unwrap_or(Value::Null)))
            .collect();
        let lookup = |n: &str| obj.get(n).cloned().unwrap_or(Value::Null);
        let clause_true = |(i, v, eq): &(usize, String, bool)| match values[*i] {
            None => false,
            Some(actual) => (actual == v.as_str()) == *eq,
        };
        let expected = groups.is_empty() || groups.iter().any(|g| g.iter().all(clause_true));
        prop_assert_eq!(compiled.matches(&lookup), expected);
        prop_assert_eq!(compiled.explain(&lookup).is_none(), expected);
    }
}

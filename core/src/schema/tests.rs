use super::*;
use serde_json::json;

fn example(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("examples")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn errors(issues: &[ValidationIssue]) -> Vec<&ValidationIssue> {
    issues
        .iter()
        .filter(|i| i.severity == Severity::Error)
        .collect()
}

/// The default schema as a JSON value, for building broken variants.
fn default_json() -> serde_json::Value {
    serde_json::from_str(DEFAULT_SCHEMA_JSON).unwrap()
}

fn issues_of(v: serde_json::Value) -> Vec<ValidationIssue> {
    let schema = load(&v.to_string()).unwrap();
    validate(&schema)
}

/// Asserts exactly one error at `path` whose message contains every part of `needles`.
fn assert_error(issues: &[ValidationIssue], path: &str, needles: &[&str]) {
    let at: Vec<_> = errors(issues)
        .into_iter()
        .filter(|i| i.path == path)
        .collect();
    assert_eq!(
        at.len(),
        1,
        "expected one error at {path}, got: {issues:#?}"
    );
    for n in needles {
        assert!(
            at[0].message.contains(n),
            "message {:?} lacks {n:?}",
            at[0].message
        );
    }
}

const USERS: &str = "$.synchronizationRules[0].objectMappings[0]";
const GROUPS: &str = "$.synchronizationRules[0].objectMappings[1]";

fn user_mapping_index(v: &serde_json::Value, target: &str) -> usize {
    v["synchronizationRules"][0]["objectMappings"][0]["attributeMappings"]
        .as_array()
        .unwrap()
        .iter()
        .position(|m| m["targetAttributeName"] == target)
        .unwrap()
}

#[test]
fn default_schema_validates_without_issues() {
    let issues = validate(&default_schema());
    assert!(issues.is_empty(), "{issues:#?}");
}

#[test]
fn default_schema_matches_the_example_file_and_its_own_output() {
    assert_eq!(example("schema-default.json"), DEFAULT_SCHEMA_JSON);
    assert_eq!(
        format!("{}\n", to_json_pretty(&default_schema())),
        DEFAULT_SCHEMA_JSON
    );
}

#[test]
fn default_schema_finds_user_and_group_mappings() {
    let s = default_schema();
    let (rule, users) = s.object_mapping("user").unwrap();
    assert_eq!(users.target_object_name, "User");
    let mail = users
        .attribute_mappings
        .iter()
        .find(|m| m.matching_priority == 1)
        .unwrap();
    assert_eq!(mail.target_attribute_name, "mail");
    let (_, groups) = s.object_mapping("Group").unwrap();
    let def = s.target_attribute(rule, groups, "mailEnabled").unwrap();
    assert!(def.required);
    assert_eq!(def.kind, AttributeType::Boolean);
    let members = s.target_attribute(rule, groups, "members").unwrap();
    assert!(members.multivalued);
    assert_eq!(members.referenced_objects.len(), 2);
    assert!(s.target_attribute(rule, groups, "nope").is_none());
    assert!(s.object_mapping("Contact").is_none());
}

#[test]
fn object_mapping_skips_disabled_mappings() {
    let mut s = default_schema();
    s.synchronization_rules[0].object_mappings[1].enabled = false;
    assert!(s.object_mapping("Group").is_none());
}

#[test]
fn custom_example_validates() {
    let s = load(&example("schema-custom.json")).unwrap();
    let issues = validate(&s);
    assert!(errors(&issues).is_empty(), "{issues:#?}");
    let (_, users) = s.object_mapping("User").unwrap();
    assert!(users.scope.is_some());
    assert!(!users.flow_types.delete);
}

#[test]
fn round_trip_is_identical_and_keeps_unknown_properties() {
    let mut v = default_json();
    v["x-top"] = json!({"a": 1});
    v["directories"][0]["discoveryDateTime"] = json!("2024-01-01T00:00:00Z");
    v["directories"][0]["objects"][0]["x-obj"] = json!(true);
    v["directories"][0]["objects"][0]["attributes"][0]["apiExpressions"] = json!([{"key": "k"}]);
    v["directories"][0]["objects"][0]["attributes"][1]["referencedObjects"] =
        json!([{"referencedObjectName": "User", "referencedProperty": null, "x-ref": 2}]);
    v["directories"][0]["objects"][0]["metadata"] = json!([{"key": "k", "value": "v", "x-m": 1}]);
    let rule = &mut v["synchronizationRules"][0];
    rule["containerFilter"] = json!({"includedContainers": []});
    rule["objectMappings"][0]["x-om"] = json!("kept");
    rule["objectMappings"][0]["attributeMappings"][0]["x-am"] = json!([1, 2]);
    rule["objectMappings"][0]["attributeMappings"][0]["source"]["x-src"] = json!("s");
    rule["objectMappings"][1]["attributeMappings"][0]["source"] = json!({
        "type": "Function", "name": "ToLower", "expression": "ToLower([displayName])",
        "parameters": [{"key": "source", "x-p": 3,
            "value": {"type": "Attribute", "name": "displayName", "expression": "[displayName]"}}]
    });
    rule["objectMappings"][0]["scope"] = json!({
        "groups": [{"name": "g", "x-g": 1, "clauses": [{
            "operatorName": "EQUALS", "sourceOperandName": "department",
            "targetOperand": {"values": ["Sales"], "x-op": 1}, "x-c": 1
        }]}],
        "x-f": "f"
    });
    let text = v.to_string();
    let first = load(&text).unwrap();
    let written = to_json_pretty(&first);
    let second = load(&written).unwrap();
    assert_eq!(first, second);
    let back: serde_json::Value = serde_json::from_str(&written).unwrap();
    assert_eq!(back["x-top"], json!({"a": 1}));
    assert_eq!(
        back["directories"][0]["discoveryDateTime"],
        "2024-01-01T00:00:00Z"
    );
    assert_eq!(back["directories"][0]["objects"][0]["x-obj"], true);
    assert_eq!(
        back["directories"][0]["objects"][0]["attributes"][0]["apiExpressions"],
        json!([{"key": "k"}])
    );
    assert_eq!(
        back["directories"][0]["objects"][0]["attributes"][1]["referencedObjects"][0]["x-ref"],
        2
    );
    assert_eq!(
        back["directories"][0]["objects"][0]["metadata"][0]["x-m"],
        1
    );
    let r = &back["synchronizationRules"][0];
    assert_eq!(r["containerFilter"], json!({"includedContainers": []}));
    assert_eq!(r["objectMappings"][0]["x-om"], "kept");
    assert_eq!(
        r["objectMappings"][0]["attributeMappings"][0]["x-am"],
        json!([1, 2])
    );
    assert_eq!(
        r["objectMappings"][0]["attributeMappings"][0]["source"]["x-src"],
        "s"
    );
    assert_eq!(
        r["objectMappings"][1]["attributeMappings"][0]["source"]["parameters"][0]["x-p"],
        3
    );
    let scope = &r["objectMappings"][0]["scope"];
    assert_eq!(scope["x-f"], "f");
    assert_eq!(scope["groups"][0]["x-g"], 1);
    assert_eq!(scope["groups"][0]["clauses"][0]["x-c"], 1);
    assert_eq!(scope["groups"][0]["clauses"][0]["targetOperand"]["x-op"], 1);
}

#[test]
fn graph_sample_object_mapping_loads() {
    // Shapes from Graph's objectMapping sample: explicit nulls, "Add, Update, Delete".
    let text = r#"{
      "directories": [], "synchronizationRules": [{
        "id": "r", "name": "r", "sourceDirectoryName": "a", "targetDirectoryName": "b",
        "objectMappings": [{
          "attributeMappings": [{
            "defaultValue": "ISO-8859-1", "exportMissingReferences": false,
            "flowBehavior": "FlowWhenChanged", "flowType": "Always", "matchingPriority": 0,
            "source": null, "targetAttributeName": "EmailEncodingKey"
          }],
          "enabled": true, "flowTypes": "Add, Update, Delete",
          "metadata": [{"key": "Disposition", "value": "\"Normal\""}],
          "name": "n", "scope": null, "sourceObjectName": "User", "targetObjectName": "User"
        }]
      }]
    }"#;
    let s = load(text).unwrap();
    let om = &s.synchronization_rules[0].object_mappings[0];
    assert_eq!(om.flow_types, FlowTypes::ALL);
    assert!(om.scope.is_none());
    assert_eq!(
        om.attribute_mappings[0].default_value.as_deref(),
        Some("ISO-8859-1")
    );
    assert_eq!(om.metadata[0].value.as_deref(), Some("\"Normal\""));
}

#[test]
fn flow_types_parse_and_print() {
    let f = FlowTypes::parse("Add,Update");
    assert!(f.add && f.update && !f.delete);
    assert_eq!(f.to_string(), "Add, Update");
    assert_eq!(FlowTypes::parse("None").to_string(), "None");
    assert_eq!(FlowTypes::parse("delete, ADD").to_string(), "Add, Delete");
    let odd = FlowTypes::parse("Add, Merge");
    assert_eq!(odd.unknown, vec!["Merge".to_string()]);
    assert_eq!(odd.to_string(), "Add, Merge");
}

#[test]
fn unknown_enum_strings_are_kept() {
    let mut v = default_json();
    v["directories"][0]["objects"][0]["attributes"][1]["type"] = json!("Decimal");
    v["directories"][0]["objects"][0]["attributes"][1]["mutability"] = json!("Read");
    let s = load(&v.to_string()).unwrap();
    let a = &s.directories[0].objects[0].attributes[1];
    assert_eq!(a.kind, AttributeType::Other("Decimal".into()));
    assert_eq!(a.mutability, Mutability::Other("Read".into()));
    let back: serde_json::Value = serde_json::from_str(&to_json_pretty(&s)).unwrap();
    assert_eq!(
        back["directories"][0]["objects"][0]["attributes"][1]["type"],
        "Decimal"
    );
}

#[test]
fn job_and_template_wrappers_load() {
    let schema = default_json();
    let job = json!({
        "id": "Azure2Azure.abc", "templateId": "Azure2Azure",
        "schedule": {"interval": "PT40M", "state": "Active"},
        "status": {"code": "Active"}, "schema": schema
    });
    let template = json!({
        "id": "Azure2Azure", "factoryTag": "Azure2Azure", "default": true,
        "metadata": [], "schema": schema
    });
    assert_eq!(load(&job.to_string()).unwrap(), default_schema());
    assert_eq!(load(&template.to_string()).unwrap(), default_schema());
}

#[test]
fn malformed_json_reports_line_and_column() {
    let e = load("{\n  \"directories\": [\n  ,\n}").unwrap_err();
    match &e {
        SchemaError::Syntax { line, column, .. } => {
            assert_eq!((*line, *column), (3, 3));
        }
        other => panic!("{other:?}"),
    }
    let text = e.to_string();
    assert!(
        text.starts_with("malformed json at line 3, column 3: "),
        "{text}"
    );
}

#[test]
fn wrong_shape_reports_line_column_and_what() {
    let e = load("{\n \"directories\": [],\n \"synchronizationRules\": \"x\"\n}").unwrap_err();
    let SchemaError::Shape { line, message, .. } = &e else {
        panic!("{e:?}");
    };
    assert_eq!(*line, 3);
    assert!(message.contains("expected a sequence"), "{message}");
}

#[test]
fn neither_schema_nor_wrapper_says_what_was_expected() {
    let e = load(r#"{"value": [], "@odata.context": "x"}"#).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("expected an object with `directories`"),
        "{text}"
    );
    assert!(
        text.contains("found an object with properties value, @odata.context"),
        "{text}"
    );
    let e = load("[1]").unwrap_err();
    assert!(e.to_string().contains("found a json array"), "{e}");
    let e = load(r#"{"schema": "x"}"#).unwrap_err();
    assert!(
        e.to_string().contains("`schema` holding a json string"),
        "{e}"
    );
}

#[test]
fn load_file_reports_missing_file() {
    let e = load_file("/nonexistent/schema.json").unwrap_err();
    assert!(matches!(e, SchemaError::Io { .. }));
    assert!(e.to_string().contains("/nonexistent/schema.json"));
}

#[test]
fn display_of_an_issue() {
    let i = ValidationIssue {
        path: "$.a".into(),
        severity: Severity::Error,
        message: "bad".into(),
    };
    assert_eq!(i.to_string(), "error at $.a: bad");
}

#[test]
fn unknown_source_directory() {
    let mut v = default_json();
    v["synchronizationRules"][0]["sourceDirectoryName"] = json!("AAD");
    let issues = issues_of(v);
    assert_error(
        &issues,
        "$.synchronizationRules[0].sourceDirectoryName",
        &[
            "source directory 'AAD' is not defined",
            "'Azure Active Directory'",
        ],
    );
}

#[test]
fn unknown_target_directory() {
    let mut v = default_json();
    v["synchronizationRules"][0]["targetDirectoryName"] = json!("Fabrikam");
    assert_error(
        &issues_of(v),
        "$.synchronizationRules[0].targetDirectoryName",
        &["target directory 'Fabrikam' is not defined"],
    );
}

#[test]
fn duplicate_directory_names() {
    let mut v = default_json();
    v["directories"][1]["name"] = json!("azure active directory");
    let issues = issues_of(v);
    assert_error(
        &issues,
        "$.directories[1].name",
        &["also used by directories[0]"],
    );
}

#[test]
fn unknown_source_and_target_objects() {
    let mut v = default_json();
    v["synchronizationRules"][0]["objectMappings"][1]["sourceObjectName"] = json!("Contact");
    v["synchronizationRules"][0]["objectMappings"][1]["targetObjectName"] = json!("Team");
    let issues = issues_of(v);
    assert_error(
        &issues,
        &format!("{GROUPS}.sourceObjectName"),
        &[
            "object 'Contact' is not defined in source directory",
            "'User', 'Group'",
        ],
    );
    assert_error(
        &issues,
        &format!("{GROUPS}.targetObjectName"),
        &["object 'Team' is not defined in target directory"],
    );
}

#[test]
fn mapping_to_a_missing_target_attribute() {
    let mut v = default_json();
    let i = user_mapping_index(&v, "jobTitle");
    v["synchronizationRules"][0]["objectMappings"][0]["attributeMappings"][i]["targetAttributeName"] =
        json!("title");
    assert_error(
        &issues_of(v),
        &format!("{USERS}.attributeMappings[{i}].targetAttributeName"),
        &["target object 'User' has no attribute 'title'"],
    );
}

#[test]
fn required_target_attribute_without_mapping() {
    let mut v = default_json();
    let maps = v["synchronizationRules"][0]["objectMappings"][1]["attributeMappings"]
        .as_array_mut()
        .unwrap();
    maps.retain(|m| m["targetAttributeName"] != "mailEnabled");
    let issues = issues_of(v.clone());
    assert_error(
        &issues,
        &format!("{GROUPS}.attributeMappings"),
        &[
            "target attribute 'mailEnabled' of 'Group' is required",
            "add a mapping",
        ],
    );
    // A defaultValue on the attribute definition satisfies the requirement.
    let attrs = v["directories"][1]["objects"][1]["attributes"]
        .as_array_mut()
        .unwrap();
    for a in attrs.iter_mut() {
        if a["name"] == "mailEnabled" {
            a["defaultValue"] = json!("False");
        }
    }
    assert!(errors(&issues_of(v)).is_empty());
}

#[test]
fn unknown_function_anywhere_in_the_tree() {
    let mut v = default_json();
    let i = user_mapping_index(&v, "displayName");
    v["synchronizationRules"][0]["objectMappings"][0]["attributeMappings"][i]["source"] = json!({
        "type": "Function", "name": "Trim", "expression": "Trim(join(\" \", [givenName]))",
        "parameters": [{"key": "source", "value": {
            "type": "Function", "name": "join", "expression": "join(\" \", [givenName])",
            "parameters": [
                {"key": "separator", "value": {"type": "Constant", "name": " ", "expression": "\" \""}},
                {"key": "source1", "value": {"type": "Attribute", "name": "givenName", "expression": "[givenName]"}}
            ]
        }}]
    });
    let schema = load(&v.to_string()).unwrap();
    let issues = validate(&schema);
    let base = format!("{USERS}.attributeMappings[{i}].source");
    assert_error(
        &issues,
        &format!("{base}.name"),
        &["unknown function 'Trim'", "plugin"],
    );
    assert_error(
        &issues,
        &format!("{base}.parameters[0].value.name"),
        &["unknown function 'join'", "did you mean 'Join'"],
    );
    // A plugin function passed in is accepted.
    let issues = validate_with(&schema, &["Trim"]);
    assert!(
        errors(&issues)
            .iter()
            .all(|i| !i.message.contains("'Trim'"))
    );
    assert_eq!(errors(&issues).len(), 1);
}

#[test]
fn attribute_source_missing_on_source_object() {
    let mut v = default_json();
    let i = user_mapping_index(&v, "city");
    v["synchronizationRules"][0]["objectMappings"][0]["attributeMappings"][i]["source"] =
        json!({"type": "Attribute", "name": "town", "expression": "[town]"});
    assert_error(
        &issues_of(v),
        &format!("{USERS}.attributeMappings[{i}].source.name"),
        &["source object 'User' has no attribute 'town'"],
    );
}

#[test]
fn matching_attribute_without_source() {
    let mut v = default_json();
    let i = user_mapping_index(&v, "mail");
    v["synchronizationRules"][0]["objectMappings"][0]["attributeMappings"][i]["source"] =
        json!(null);
    assert_error(
        &issues_of(v),
        &format!("{USERS}.attributeMappings[{i}].source"),
        &["'mail' is a matching attribute (matchingPriority 1) but has no source"],
    );
}

#[test]
fn duplicate_matching_priority() {
    let mut v = default_json();
    let i = user_mapping_index(&v, "employeeId");
    v["synchronizationRules"][0]["objectMappings"][0]["attributeMappings"][i]["matchingPriority"] =
        json!(1);
    let first = user_mapping_index(&v, "mail");
    assert_error(
        &issues_of(v),
        &format!("{USERS}.attributeMappings[{i}].matchingPriority"),
        &[&format!(
            "matching priority 1 is also used by attributeMappings[{first}]"
        )],
    );
}

#[test]
fn two_mappings_to_one_target_attribute() {
    let mut v = default_json();
    let i = user_mapping_index(&v, "givenName");
    v["synchronizationRules"][0]["objectMappings"][0]["attributeMappings"][i]["targetAttributeName"] =
        json!("DisplayName");
    let first = user_mapping_index(&v, "displayName");
    assert_error(
        &issues_of(v),
        &format!("{USERS}.attributeMappings[{i}].targetAttributeName"),
        &[&format!(
            "'DisplayName' is already mapped by attributeMappings[{first}]"
        )],
    );
}

#[test]
fn unknown_flow_type_flow_behavior_and_flow_types() {
    let mut v = default_json();
    let om = &mut v["synchronizationRules"][0]["objectMappings"][0];
    om["flowTypes"] = json!("Add, Merge");
    om["attributeMappings"][0]["flowType"] = json!("OnlyOnCreate");
    om["attributeMappings"][1]["flowBehavior"] = json!("FlowSometimes");
    let issues = issues_of(v);
    assert_error(
        &issues,
        &format!("{USERS}.flowTypes"),
        &["unknown flow type(s) 'Merge'"],
    );
    assert_error(
        &issues,
        &format!("{USERS}.attributeMappings[0].flowType"),
        &["unknown flowType 'OnlyOnCreate'", "ObjectAddOnly"],
    );
    assert_error(
        &issues,
        &format!("{USERS}.attributeMappings[1].flowBehavior"),
        &["unknown flowBehavior 'FlowSometimes'", "FlowAlways"],
    );
}

fn with_clause(clause: serde_json::Value) -> Vec<ValidationIssue> {
    let mut v = default_json();
    v["synchronizationRules"][0]["objectMappings"][0]["scope"] =
        json!({"groups": [{"name": "g", "clauses": [clause]}]});
    issues_of(v)
}

const CLAUSE: &str = "$.synchronizationRules[0].objectMappings[0].scope.groups[0].clauses[0]";

#[test]
fn filter_clause_with_unknown_operator() {
    let issues = with_clause(
        json!({"operatorName": "LIKE", "sourceOperandName": "department",
        "targetOperand": {"values": ["x"]}}),
    );
    assert_error(
        &issues,
        &format!("{CLAUSE}.operatorName"),
        &["unknown operator 'LIKE'"],
    );
}

#[test]
fn filter_clause_with_wrong_arity() {
    let issues = with_clause(
        json!({"operatorName": "EQUALS", "sourceOperandName": "department",
        "targetOperand": {"values": []}}),
    );
    assert_error(
        &issues,
        &format!("{CLAUSE}.targetOperand.values"),
        &["EQUALS takes 1 target value(s) but has 0"],
    );
    let issues = with_clause(
        json!({"operatorName": "IS NULL", "sourceOperandName": "department",
        "targetOperand": {"values": ["x"]}}),
    );
    assert_error(
        &issues,
        &format!("{CLAUSE}.targetOperand.values"),
        &["IS_NULL takes 0 target value(s) but has 1"],
    );
}

#[test]
fn filter_clause_on_missing_source_attribute() {
    let issues = with_clause(
        json!({"operatorName": "EQUALS", "sourceOperandName": "division",
        "targetOperand": {"values": ["x"]}}),
    );
    assert_error(
        &issues,
        &format!("{CLAUSE}.sourceOperandName"),
        &["source object 'User' has no attribute 'division' to filter on"],
    );
}

#[test]
fn filter_clause_with_invalid_regex() {
    let issues = with_clause(
        json!({"operatorName": "REGEX MATCH", "sourceOperandName": "mail",
        "targetOperand": {"values": ["(unclosed"]}}),
    );
    assert_error(
        &issues,
        &format!("{CLAUSE}.targetOperand.values"),
        &["invalid regular expression '(unclosed'"],
    );
}

#[test]
fn filter_clause_with_non_integer_operand() {
    let issues = with_clause(
        json!({"operatorName": "Greater_Than", "sourceOperandName": "employeeId",
        "targetOperand": {"values": ["ten"]}}),
    );
    assert_error(
        &issues,
        &format!("{CLAUSE}.targetOperand.values"),
        &["GREATER_THAN compares whole numbers but the target value is 'ten'"],
    );
}

#[test]
fn filter_on_multivalued_attribute_warns() {
    let issues = with_clause(
        json!({"operatorName": "INCLUDES", "sourceOperandName": "businessPhones",
        "targetOperand": {"values": ["+1"]}}),
    );
    assert!(errors(&issues).is_empty());
    assert!(issues.iter().any(|i| i.severity == Severity::Warning
        && i.path == format!("{CLAUSE}.sourceOperandName")
        && i.message.contains("multi-valued")));
}

#[test]
fn object_without_matching_attribute_warns() {
    let mut v = default_json();
    let i = user_mapping_index(&v, "mail");
    v["synchronizationRules"][0]["objectMappings"][0]["attributeMappings"][i]["matchingPriority"] =
        json!(0);
    let issues = issues_of(v);
    assert!(errors(&issues).is_empty(), "{issues:#?}");
    assert!(issues.iter().any(|i| i.severity == Severity::Warning
        && i.path == format!("{USERS}.attributeMappings")
        && i.message.contains("no matching attribute")));
}

#[test]
fn object_without_one_anchor_warns() {
    let mut v = default_json();
    v["directories"][1]["objects"][0]["attributes"][0]["anchor"] = json!(false);
    let issues = issues_of(v);
    assert!(issues.iter().any(|i| i.severity == Severity::Warning
        && i.path == "$.directories[1].objects[0].attributes"
        && i.message.contains("has 0 anchor attributes")));
}

#[test]
fn mapping_without_source_or_default_warns() {
    let mut v = default_json();
    let i = user_mapping_index(&v, "city");
    v["synchronizationRules"][0]["objectMappings"][0]["attributeMappings"][i]["source"] =
        json!(null);
    let issues = issues_of(v);
    assert!(issues.iter().any(|x| x.severity == Severity::Warning
        && x.path == format!("{USERS}.attributeMappings[{i}].source")
        && x.message.contains("neither a source nor a defaultValue")));
}

#[test]
fn byte_order_mark_is_ignored() {
    let text = format!("\u{feff}{DEFAULT_SCHEMA_JSON}");
    assert_eq!(load(&text).unwrap(), default_schema());
}

#[test]
fn has_errors_only_counts_errors() {
    let mut v = default_json();
    let i = user_mapping_index(&v, "mail");
    v["synchronizationRules"][0]["objectMappings"][0]["attributeMappings"][i]["matchingPriority"] =
        json!(0);
    let issues = issues_of(v);
    assert!(!issues.is_empty());
    assert!(!has_errors(&issues));
    let mut v = default_json();
    v["synchronizationRules"][0]["sourceDirectoryName"] = json!("x");
    assert!(has_errors(&issues_of(v)));
}

proptest::proptest! {
    /// Printing flow types and parsing them back gives the same flags.
    #[test]
    fn flow_types_round_trip(add: bool, update: bool, delete: bool, spaced: bool) {
        let f = FlowTypes { add, update, delete, unknown: Vec::new() };
        let text = f.to_string();
        let text = if spaced { text } else { text.replace(", ", ",") };
        proptest::prop_assert_eq!(FlowTypes::parse(&text), f);
    }
}

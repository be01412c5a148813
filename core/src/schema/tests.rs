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
fn wrong_shape_reports_path_line_column_and_what() {
    let e = load("{\n \"directories\": [],\n \"synchronizationRules\": \"x\"\n}").unwrap_err();
    let SchemaError::Shape {
        line,
        path,
        message,
        ..
    } = &e
    else {
        panic!("{e:?}");
    };
    assert_eq!(*line, 3);
    assert_eq!(path, "$.synchronizationRules");
    assert!(message.contains("expected"), "{message}");
}

#[test]
fn a_source_without_type_is_refused_at_its_path() {
    let mut v = default_json();
    v["synchronizationRules"][0]["objectMappings"][1]["attributeMappings"][2]["source"] = json!({});
    let e = load(&v.to_string()).unwrap_err();
    let SchemaError::Shape { path, message, .. } = &e else {
        panic!("{e:?}");
    };
    assert_eq!(
        path,
        &format!("{GROUPS}.attributeMappings[2].source"),
        "{e}"
    );
    assert!(message.contains("missing field `type`"), "{message}");
    assert!(
        e.to_string().contains(&format!("at {path} (line 1,")),
        "{e}"
    );
    // Inside a job export the path starts at the job.
    let job = json!({"id": "j", "schema": v});
    let SchemaError::Shape { path, .. } = load(&job.to_string()).unwrap_err() else {
        panic!("shape");
    };
    assert!(
        path.starts_with("$.schema.synchronizationRules[0]"),
        "{path}"
    );
}

#[test]
fn a_scalar_of_the_wrong_type_is_named_by_its_path() {
    let mut v = default_json();
    v["directories"][1]["objects"][0]["attributes"][3]["multivalued"] = json!("yes");
    let SchemaError::Shape { path, message, .. } = load(&v.to_string()).unwrap_err() else {
        panic!("shape");
    };
    assert_eq!(
        path,
        "$.directories[1].objects[0].attributes[3].multivalued"
    );
    assert!(message.contains("expected a boolean"), "{message}");
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

/// Sets `null` at `pointer` (RFC 6901) in `v`, adding the property if absent.
fn set_null(v: &mut serde_json::Value, pointer: &str) {
    let cut = pointer.rfind('/').unwrap();
    let parent = v
        .pointer_mut(&pointer[..cut])
        .unwrap_or_else(|| panic!("no parent for {pointer}"));
    parent
        .as_object_mut()
        .unwrap()
        .insert(pointer[cut + 1..].to_string(), serde_json::Value::Null);
}

/// Every property Graph may write as `null`: each loads, validates as absent, and is written
/// back as `null`.
#[test]
fn null_is_accepted_as_absent_and_written_back() {
    let users = "/synchronizationRules/0/objectMappings/0";
    let groups = "/synchronizationRules/0/objectMappings/1";
    let attr = "/directories/1/objects/0/attributes/2";
    let cases = [
        "/id".to_string(),
        "/version".to_string(),
        "/directories/0/id".to_string(),
        "/directories/0/discoverabilities".to_string(),
        "/directories/0/objects/0/metadata".to_string(),
        "/directories/0/objects/0/supportedApis".to_string(),
        format!("{attr}/type"),
        format!("{attr}/multivalued"),
        format!("{attr}/required"),
        format!("{attr}/mutability"),
        format!("{attr}/anchor"),
        format!("{attr}/caseExact"),
        format!("{attr}/defaultValue"),
        format!("{attr}/referencedObjects"),
        format!("{attr}/flowNullValues"),
        format!("{attr}/metadata"),
        "/synchronizationRules/0/id".to_string(),
        "/synchronizationRules/0/name".to_string(),
        "/synchronizationRules/0/editable".to_string(),
        "/synchronizationRules/0/priority".to_string(),
        "/synchronizationRules/0/metadata".to_string(),
        format!("{groups}/name"),
        format!("{groups}/scope"),
        format!("{groups}/metadata"),
        format!("{users}/flowTypes"),
        format!("{users}/attributeMappings/1/defaultValue"),
        format!("{users}/attributeMappings/1/exportMissingReferences"),
        format!("{users}/attributeMappings/1/flowBehavior"),
        format!("{users}/attributeMappings/1/flowType"),
        format!("{users}/attributeMappings/1/matchingPriority"),
        format!("{users}/attributeMappings/1/source/expression"),
        format!("{users}/attributeMappings/1/source/parameters"),
    ];
    for pointer in &cases {
        let mut v = default_json();
        set_null(&mut v, pointer);
        let s = load(&v.to_string()).unwrap_or_else(|e| panic!("{pointer}: {e}"));
        let issues = validate(&s);
        assert!(errors(&issues).is_empty(), "{pointer}: {issues:#?}");
        let back: serde_json::Value = serde_json::from_str(&to_json_pretty(&s)).unwrap();
        assert_eq!(back.pointer(pointer), Some(&json!(null)), "{pointer}");
        assert_eq!(back, v, "{pointer}: the round trip changed the document");
    }
}

#[test]
fn null_reads_as_the_absent_value() {
    let mut v = default_json();
    let groups = &mut v["synchronizationRules"][0]["objectMappings"][1];
    groups["name"] = json!(null);
    groups["flowTypes"] = json!(null);
    groups["metadata"] = json!([{"key": "Disposition", "value": null}]);
    groups["attributeMappings"][0]["matchingPriority"] = json!(null);
    groups["attributeMappings"][0]["flowType"] = json!(null);
    groups["scope"] = json!({
        "groups": [{"name": null, "clauses": [{
            "operatorName": "IS NOT NULL", "sourceOperandName": "description",
            "targetOperand": null
        }]}],
        "inputFilterGroups": null, "categoryFilterGroups": null
    });
    let s = load(&v.to_string()).unwrap();
    let om = &s.synchronization_rules[0].object_mappings[1];
    assert_eq!(om.name, "");
    assert_eq!(om.flow_types, FlowTypes::ALL);
    assert_eq!(om.metadata[0].value, None);
    assert_eq!(om.attribute_mappings[0].matching_priority, 0);
    assert_eq!(om.attribute_mappings[0].flow_type, FlowType::Always);
    let scope = om.scope.as_ref().unwrap();
    assert_eq!(scope.groups[0].name, "");
    assert!(scope.groups[0].clauses[0].target_operand.values.is_empty());
    assert!(scope.input_filter_groups.is_empty());
    let issues = validate(&s);
    assert!(errors(&issues).is_empty(), "{issues:#?}");
    let back: serde_json::Value = serde_json::from_str(&to_json_pretty(&s)).unwrap();
    assert_eq!(back, v);
}

#[test]
fn an_edited_null_is_written_with_its_new_value() {
    let mut v = default_json();
    v["synchronizationRules"][0]["objectMappings"][1]["name"] = json!(null);
    v["synchronizationRules"][0]["objectMappings"][1]["scope"] = json!(null);
    let mut s = load(&v.to_string()).unwrap();
    s.synchronization_rules[0].object_mappings[1].name = "Groups".to_string();
    let back: serde_json::Value = serde_json::from_str(&to_json_pretty(&s)).unwrap();
    let om = &back["synchronizationRules"][0]["objectMappings"][1];
    assert_eq!(om["name"], "Groups");
    assert_eq!(om["scope"], json!(null));
    // Nulls are form, not meaning: the schema equals one loaded without them.
    let mut plain = default_json();
    plain["synchronizationRules"][0]["objectMappings"][1]["name"] = json!("");
    let without = load(&plain.to_string()).unwrap();
    assert_eq!(load(&v.to_string()).unwrap(), without);
    let nulls_in_default = load(DEFAULT_SCHEMA_JSON).unwrap().nulls.len();
    assert_eq!(
        load(&v.to_string()).unwrap().nulls.len(),
        nulls_in_default + 1,
        "the group mapping's name is the one null added (its scope is null already)"
    );
}

#[test]
fn a_disabled_unnamed_mapping_is_accepted() {
    // Entra's templates carry disabled object mappings whose names are null.
    let mut v = default_json();
    let groups = &mut v["synchronizationRules"][0]["objectMappings"][1];
    groups["enabled"] = json!(false);
    groups["name"] = json!(null);
    groups["sourceObjectName"] = json!(null);
    groups["targetObjectName"] = json!(null);
    groups["attributeMappings"][0]["source"]["expression"] = json!(null);
    let s = load(&v.to_string()).unwrap();
    let issues = validate(&s);
    assert!(errors(&issues).is_empty(), "{issues:#?}");
    assert!(s.object_mapping("Group").is_none());
}

#[test]
fn a_disabled_mapping_reports_warnings_where_an_enabled_one_has_errors() {
    let mut v = default_json();
    let groups = &mut v["synchronizationRules"][0]["objectMappings"][1];
    groups["enabled"] = json!(false);
    groups["sourceObjectName"] = json!("Contact");
    let issues = issues_of(v);
    assert!(errors(&issues).is_empty(), "{issues:#?}");
    let w = issues
        .iter()
        .find(|i| i.path == format!("{GROUPS}.sourceObjectName"))
        .expect("a warning at sourceObjectName");
    assert_eq!(w.severity, Severity::Warning);
    assert!(w.message.contains("object 'Contact' is not defined"), "{w}");
    assert!(w.message.contains("the object mapping is disabled"), "{w}");
}

#[test]
fn an_enabled_mapping_without_source_object_is_an_error() {
    let mut v = default_json();
    v["synchronizationRules"][0]["objectMappings"][1]["sourceObjectName"] = json!(null);
    v["synchronizationRules"][0]["objectMappings"][1]["targetObjectName"] = json!("");
    let issues = issues_of(v);
    assert_error(
        &issues,
        &format!("{GROUPS}.sourceObjectName"),
        &[
            "enabled object mapping 'Provision Microsoft Entra ID Groups' has no sourceObjectName",
            "or set enabled to false",
        ],
    );
    assert_error(
        &issues,
        &format!("{GROUPS}.targetObjectName"),
        &["has no targetObjectName"],
    );
}

#[test]
fn a_rule_without_directory_names_says_they_are_missing() {
    let mut v = default_json();
    v["synchronizationRules"][0]["sourceDirectoryName"] = json!(null);
    assert_error(
        &issues_of(v),
        "$.synchronizationRules[0].sourceDirectoryName",
        &[
            "the source directory name is missing (null or empty)",
            "'Azure Active Directory'",
        ],
    );
}

#[test]
fn a_source_tree_that_is_no_expression_is_an_error() {
    let mut v = default_json();
    let at = user_mapping_index(&v, "displayName");
    v["synchronizationRules"][0]["objectMappings"][0]["attributeMappings"][at]["source"] = json!({
        "type": "Function", "name": "ToLower", "expression": "ToLower([displayName])",
        "parameters": [{"key": "nope", "value":
            {"type": "Attribute", "name": "displayName", "expression": "[displayName]"}}]
    });
    assert_error(
        &issues_of(v),
        &format!("{USERS}.attributeMappings[{at}].source"),
        &["the source tree is not an expression", "nope"],
    );
}

#[test]
fn expression_text_that_does_not_parse_is_a_warning() {
    let mut v = default_json();
    let at = user_mapping_index(&v, "displayName");
    v["synchronizationRules"][0]["objectMappings"][0]["attributeMappings"][at]["source"]["expression"] =
        json!("[displayName");
    let issues = issues_of(v);
    assert!(errors(&issues).is_empty(), "{issues:#?}");
    let w = issues
        .iter()
        .find(|i| i.path == format!("{USERS}.attributeMappings[{at}].source.expression"))
        .expect("a warning");
    assert_eq!(w.severity, Severity::Warning);
    assert!(w.message.contains("does not parse"), "{w}");
}

#[test]
fn graph_list_response_with_one_template_loads() {
    let one = json!({"@odata.context": "x", "value": [
        {"id": "Azure2Azure", "factoryTag": "Azure2Azure", "schema": default_json()}
    ]});
    assert_eq!(load(&one.to_string()).unwrap(), default_schema());
    let two = json!({"value": [
        {"id": "a", "schema": default_json()}, {"id": "b", "schema": default_json()}
    ]});
    let e = load(&two.to_string()).unwrap_err();
    assert!(
        e.to_string()
            .contains("a list of 2 templates or jobs holding a schema"),
        "{e}"
    );
    let mut bad = default_json();
    bad["directories"] = json!("x");
    let SchemaError::Shape { path, .. } =
        load(&json!({"value": [{"id": "a", "schema": bad}]}).to_string()).unwrap_err()
    else {
        panic!("shape");
    };
    assert_eq!(path, "$.value[0].schema.directories");
}

/// What reading and validating one of Microsoft's published examples gives.
enum Expect {
    /// Loads and validates without errors.
    Valid,
    /// Not valid JSON as published: the syntax error at this line and column.
    Syntax(usize, usize, &'static str),
    /// Valid JSON that does not read as a schema: the shape error at this path.
    Shape(&'static str, &'static str),
    /// Loads; validation finds exactly these errors (path, part of the message).
    Errors(&'static [(&'static str, &'static str)]),
}

/// Every file of `examples/microsoft/` (see its README.md for each one's source) and what it
/// gives. A file that starts or stops loading or validating fails this test.
const MICROSOFT_EXAMPLES: &[(&str, Expect)] = &[
    (
        "entra-cross-tenant-sync-schema-get.json",
        Expect::Syntax(17, 13, "expected value"),
    ),
    (
        "graph-beta-2018-synchronization_schema-resource.json",
        Expect::Errors(&[
            ("$.directories[0].name", "directory definition has no name"),
            (
                "$.synchronizationRules[0].sourceDirectoryName",
                "the source directory name is missing",
            ),
            (
                "$.synchronizationRules[0].targetDirectoryName",
                "the target directory name is missing",
            ),
        ]),
    ),
    (
        "graph-beta-synchronizationschema-resource.json",
        Expect::Errors(&[
            ("$.directories[0].name", "directory definition has no name"),
            (
                "$.synchronizationRules[0].sourceDirectoryName",
                "the source directory name is missing",
            ),
            (
                "$.synchronizationRules[0].targetDirectoryName",
                "the target directory name is missing",
            ),
        ]),
    ),
    (
        "graph-concept-custom-target-edit.json",
        Expect::Errors(&[(
            "$.synchronizationRules[0].sourceDirectoryName",
            "source directory 'Azure Active Directory' is not defined",
        )]),
    ),
    ("graph-concept-custom-target-put.json", Expect::Valid),
    (
        "graph-concept-directory-extension-edit.json",
        Expect::Syntax(9, 29, "expected value"),
    ),
    (
        "graph-concept-directory-extension-get.json",
        Expect::Errors(&[
            (
                "$.synchronizationRules[0].sourceDirectoryName",
                "the source directory name is missing",
            ),
            (
                "$.synchronizationRules[0].targetDirectoryName",
                "the target directory name is missing",
            ),
        ]),
    ),
    ("graph-concept-directory-extension-put.json", Expect::Valid),
    (
        "graph-concept-provisioning-list-templates-aws.json",
        Expect::Valid,
    ),
    (
        "graph-v1-synchronization-list-templates.json",
        Expect::Valid,
    ),
    (
        "graph-v1-synchronizationschema-get.json",
        Expect::Shape(
            "$.synchronizationRules[0].objectMappings[0].attributeMappings[0].source",
            "missing field `type`",
        ),
    ),
    (
        "graph-v1-synchronizationschema-resource.json",
        Expect::Errors(&[
            (
                "$.synchronizationRules[0].sourceDirectoryName",
                "the source directory name is missing",
            ),
            (
                "$.synchronizationRules[0].targetDirectoryName",
                "the target directory name is missing",
            ),
        ]),
    ),
    (
        "graph-v1-synchronizationschema-update.json",
        Expect::Syntax(15, 13, "trailing comma"),
    ),
    (
        "graph-v1-synchronizationtemplate-resource.json",
        Expect::Valid,
    ),
];

/// Asserts that everything `original` holds is in `written` unchanged (the model may add the
/// properties it writes, never drop or change one); enumeration values compare
/// case-insensitively, as Graph reads them.
fn assert_kept(original: &serde_json::Value, written: &serde_json::Value, at: &str) {
    use serde_json::Value;
    match (original, written) {
        (Value::Object(o), Value::Object(w)) => {
            for (k, v) in o {
                let there = w.get(k).unwrap_or_else(|| panic!("{at}.{k} was dropped"));
                assert_kept(v, there, &format!("{at}.{k}"));
            }
        }
        (Value::Array(o), Value::Array(w)) => {
            assert_eq!(o.len(), w.len(), "{at}: list length changed");
            for (i, (a, b)) in o.iter().zip(w).enumerate() {
                assert_kept(a, b, &format!("{at}[{i}]"));
            }
        }
        (Value::String(a), Value::String(b)) => {
            assert!(a.eq_ignore_ascii_case(b), "{at}: {a:?} became {b:?}");
        }
        (a, b) => assert_eq!(a, b, "{at} changed"),
    }
}

#[test]
fn microsoft_examples_load_or_are_refused_for_a_named_problem() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/microsoft");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    on_disk.sort();
    let listed: Vec<String> = MICROSOFT_EXAMPLES
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    assert_eq!(
        on_disk, listed,
        "every example file has one row in the table"
    );
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    for (name, expect) in MICROSOFT_EXAMPLES {
        assert!(
            readme.contains(name),
            "{name} is not in examples/microsoft/README.md"
        );
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        let loaded = load(&text);
        match (expect, loaded) {
            (Expect::Syntax(line, column, part), Err(e)) => {
                let SchemaError::Syntax {
                    line: l,
                    column: c,
                    message,
                } = &e
                else {
                    panic!("{name}: expected a syntax error, got {e}");
                };
                assert_eq!((*l, *c), (*line, *column), "{name}: {e}");
                assert!(message.contains(part), "{name}: {e}");
            }
            (Expect::Shape(path, part), Err(e)) => {
                let SchemaError::Shape {
                    path: p, message, ..
                } = &e
                else {
                    panic!("{name}: expected a shape error, got {e}");
                };
                assert_eq!(p, path, "{name}: {e}");
                assert!(message.contains(part), "{name}: {e}");
            }
            (Expect::Valid, Ok(s)) | (Expect::Errors(_), Ok(s)) => {
                let found: Vec<(String, String)> = errors(&validate(&s))
                    .into_iter()
                    .map(|i| (i.path.clone(), i.message.clone()))
                    .collect();
                let wanted: &[(&str, &str)] = match expect {
                    Expect::Errors(list) => list,
                    _ => &[],
                };
                assert_eq!(
                    found.len(),
                    wanted.len(),
                    "{name}: expected {wanted:?}, found {found:#?}"
                );
                for ((p, m), (wp, wm)) in found.iter().zip(wanted) {
                    assert_eq!(p, wp, "{name}");
                    assert!(m.contains(wm), "{name}: {m:?} lacks {wm:?}");
                }
                // The round trip keeps everything the document said, nulls included.
                let original: serde_json::Value = serde_json::from_str(&text).unwrap();
                let schema_part = if original.get("schema").is_some() {
                    original["schema"].clone()
                } else if let Some(items) = original.get("value") {
                    items[0]["schema"].clone()
                } else {
                    original
                };
                let written = to_json_pretty(&s);
                let back: serde_json::Value = serde_json::from_str(&written).unwrap();
                assert_kept(&schema_part, &back, &format!("{name}: $"));
                assert_eq!(load(&written).unwrap(), s, "{name}");
            }
            (_, result) => panic!(
                "{name}: expected {}, got {result:?}",
                match expect {
                    Expect::Valid => "a valid schema",
                    Expect::Syntax(..) => "a syntax error",
                    Expect::Shape(..) => "a shape error",
                    Expect::Errors(..) => "validation errors",
                }
            ),
        }
    }
}

#[test]
fn empty_parameter_lists_graph_writes_are_written_back() {
    let mut v = default_json();
    v["synchronizationRules"][0]["objectMappings"][0]["attributeMappings"][1]["source"]["parameters"] =
        json!([]);
    let s = load(&v.to_string()).unwrap();
    let back: serde_json::Value = serde_json::from_str(&to_json_pretty(&s)).unwrap();
    assert_eq!(back, v);
    // Without them in the input, none are added.
    let plain = load(DEFAULT_SCHEMA_JSON).unwrap();
    assert_eq!(format!("{}\n", to_json_pretty(&plain)), DEFAULT_SCHEMA_JSON);
}

/// The shape Entra's cross-tenant synchronization job shows in Microsoft's how-to
/// (cross-tenant-synchronization-configure-graph.md: rule `USER_INBOUND_USER` with
/// `containerFilter` and `groupFilter` null, object mappings `{Provision Azure Active Directory
/// Users, , , …}`): disabled object mappings without names load, validate and round-trip.
#[test]
fn cross_tenant_job_shape_with_unnamed_disabled_mappings() {
    let mut v = default_json();
    let rule = &mut v["synchronizationRules"][0];
    rule["name"] = json!("USER_INBOUND_USER");
    rule["containerFilter"] = json!(null);
    rule["groupFilter"] = json!(null);
    rule["metadata"] = json!([{"key": "defaultSourceObjectMappings", "value": null}]);
    let unnamed = json!({
        "enabled": false, "flowTypes": "Add, Update, Delete", "name": null,
        "sourceObjectName": null, "targetObjectName": null, "scope": null,
        "metadata": [{"key": "Disposition", "value": null}],
        "attributeMappings": [{
            "defaultValue": null, "exportMissingReferences": false,
            "flowBehavior": "FlowWhenChanged", "flowType": "Always", "matchingPriority": 0,
            "targetAttributeName": "displayName",
            "source": {"expression": null, "name": "displayName", "type": "Attribute",
                       "parameters": []}
        }]
    });
    let mappings = rule["objectMappings"].as_array_mut().unwrap();
    for _ in 0..3 {
        mappings.push(unnamed.clone());
    }
    let s = load(&v.to_string()).unwrap();
    let issues = validate(&s);
    assert!(errors(&issues).is_empty(), "{issues:#?}");
    assert_eq!(
        s.object_mapping("User").unwrap().1.name,
        "Provision Microsoft Entra ID Users"
    );
    let back: serde_json::Value = serde_json::from_str(&to_json_pretty(&s)).unwrap();
    assert_eq!(back, v);
}

/// Every document collected from Microsoft's pages loads as published (repairs said), and
/// exactly the ones Graph's strict reading refuses need repairs.
#[test]
fn every_microsoft_example_loads_as_published() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/microsoft");
    let mut repaired = Vec::new();
    for (name, _) in MICROSOFT_EXAMPLES {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        let (schema, repairs) = super::load_as_published(&text)
            .unwrap_or_else(|e| panic!("{name} does not load as published: {e}"));
        assert_eq!(
            repairs.is_empty(),
            load(&text).is_ok(),
            "{name}: {repairs:?}"
        );
        if !repairs.is_empty() {
            repaired.push(name.to_string());
            // What was read is a schema the validator can speak about.
            let _ = validate(&schema);
        }
    }
    assert_eq!(
        repaired,
        [
            "entra-cross-tenant-sync-schema-get.json",
            "graph-concept-directory-extension-edit.json",
            "graph-v1-synchronizationschema-get.json",
            "graph-v1-synchronizationschema-update.json",
        ]
    );
    let salesforce =
        std::fs::read_to_string(dir.join("graph-v1-synchronizationschema-get.json")).unwrap();
    let (_, repairs) = super::load_as_published(&salesforce).unwrap();
    assert!(
        repairs.iter().any(|r| r.to_string().contains(
            "$.synchronizationRules[0].objectMappings[0].attributeMappings[0].source is `{}`"
        )),
        "{repairs:?}"
    );
}

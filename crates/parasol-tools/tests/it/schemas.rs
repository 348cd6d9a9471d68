//! What the model is told: every tool's schema and description, through `base_tools`.

use parasol_agent::tool::schema_of;
use parasol_tools::batch::BatchArgs;
use parasol_tools::{BaseToolsConfig, base_tools};
use serde_json::Value;

/// Checks that `schema` is an object schema with exactly `properties`, of which
/// `required` are required, each described.
fn assert_object(schema: &Value, properties: &[&str], required: &[&str]) {
    assert_eq!(schema["type"], "object", "{schema}");
    let found = schema["properties"].as_object().unwrap();
    let mut names: Vec<&str> = found.keys().map(String::as_str).collect();
    names.sort_unstable();
    let mut expected = properties.to_vec();
    expected.sort_unstable();
    assert_eq!(names, expected, "{schema}");
    for (name, property) in found {
        let description = property["description"].as_str().unwrap_or_default();
        assert!(
            description.len() > 10,
            "`{name}` has no description: {schema}"
        );
    }
    let mut wanted: Vec<&str> = schema["required"]
        .as_array()
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    wanted.sort_unstable();
    assert_eq!(wanted, required, "{schema}");
}

#[test]
fn base_tools_registers_the_five_tools() {
    let tools = base_tools(BaseToolsConfig::default()).unwrap();
    let names: Vec<&str> = tools.names().collect();
    assert_eq!(
        names,
        [
            "batch",
            "calculator",
            "current_time",
            "http_request",
            "think"
        ]
    );
}

#[test]
fn every_tool_has_a_described_schema() {
    let tools = base_tools(BaseToolsConfig::default()).unwrap();
    let expected: &[(&str, &[&str], &[&str])] = &[
        ("batch", &["invocations"], &["invocations"]),
        ("calculator", &["expression"], &["expression"]),
        ("current_time", &["time_zone"], &[]),
        (
            "http_request",
            &["body", "headers", "method", "url"],
            &["url"],
        ),
        ("think", &["thought"], &["thought"]),
    ];
    for spec in tools.specs() {
        let (_, properties, required) = expected
            .iter()
            .find(|(name, ..)| *name == spec.name)
            .unwrap();
        assert!(
            spec.description.len() > 40,
            "{}: {}",
            spec.name,
            spec.description
        );
        assert_object(&spec.input_schema, properties, required);
    }
}

#[test]
fn batch_describes_each_invocation_and_lists_the_tools_it_can_reach() {
    let schema = schema_of::<BatchArgs>();
    let item = &schema["properties"]["invocations"]["items"];
    assert_object(item, &["arguments", "name"], &["name"]);

    let tools = base_tools(BaseToolsConfig::default()).unwrap();
    let batch = tools
        .specs()
        .into_iter()
        .find(|spec| spec.name == "batch")
        .unwrap();
    for name in ["calculator", "current_time", "http_request", "think"] {
        assert!(batch.description.contains(name), "{}", batch.description);
    }
    assert!(!batch.description.contains("batch,"));
}

#[test]
fn http_methods_are_offered_by_name() {
    let tools = base_tools(BaseToolsConfig::default()).unwrap();
    let http = tools
        .specs()
        .into_iter()
        .find(|spec| spec.name == "http_request")
        .unwrap();
    let method = http.input_schema["properties"]["method"].to_string();
    for name in ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] {
        assert!(method.contains(name), "{method}");
    }
}

#[tokio::test]
async fn tools_are_callable_through_the_tool_set() {
    let tools = base_tools(BaseToolsConfig::default()).unwrap();
    let limit = std::time::Duration::from_secs(5);
    let sum = tools
        .call(
            "calculator",
            serde_json::json!({"expression": "6 * 7"}),
            limit,
        )
        .await
        .unwrap();
    assert_eq!(sum["result"], 42.0);

    let batch = serde_json::json!({"invocations": [
        {"name": "calculator", "arguments": {"expression": "1/0"}},
        {"name": "think", "arguments": {"thought": "check"}},
    ]});
    let results = tools.call("batch", batch, limit).await.unwrap();
    assert_eq!(results["results"][0]["ok"], false);
    assert_eq!(results["results"][1]["output"], "Noted.");
}

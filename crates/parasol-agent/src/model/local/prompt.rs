//! How a conversation with tools is put to a local model that knows nothing of tools,
//! and how its tool calls are read back.
//!
//! The tools are described in the system prompt, and the model calls one by writing
//! `<tool_call>{"name": ..., "arguments": {...}}</tool_call>`. A grammar built from the
//! tools' JSON Schemas constrains what follows the opening tag, so even a very small
//! model writes a call that parses against its tool's schema.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::message::{ContentBlock, Message, Role};
use crate::model::{ModelRequest, ToolCall};
use crate::tool::ToolSpec;

/// The tag that opens a tool call; it also triggers the lazy grammar.
pub(crate) const CALL_OPEN: &str = "<tool_call>";
/// The tag that closes a tool call.
pub(crate) const CALL_CLOSE: &str = "</tool_call>";

/// The conversation as (role, content) pairs for the model's chat template.
pub(crate) fn chat_messages(request: &ModelRequest) -> Vec<(String, String)> {
    let mut system = request.system.clone();
    if !request.tools.is_empty() {
        system.push_str(&tools_section(&request.tools));
    }
    // Tool results name the tool they come from; the call's id is all a result carries.
    let names: HashMap<&str, &str> = request
        .messages
        .iter()
        .flat_map(|message| &message.content)
        .filter_map(|block| match block {
            ContentBlock::ToolUse { id, name, .. } => Some((id.as_str(), name.as_str())),
            _ => None,
        })
        .collect();
    let mut out = vec![("system".to_owned(), system)];
    out.extend(request.messages.iter().map(|message| {
        let role = match message.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        (role.to_owned(), render(message, &names))
    }));
    out
}

fn tools_section(tools: &[ToolSpec]) -> String {
    let mut section = String::from(
        "\n\nYou can call these tools. To call one, answer with only:\n<tool_call>\n\
         {\"name\": \"<tool name>\", \"arguments\": {<arguments>}}\n</tool_call>\n\
         When a tool result comes back, answer the user from it in plain words.\n\nTools:\n",
    );
    for tool in tools {
        let line = json!({
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.input_schema,
        });
        section.push_str(&line.to_string());
        section.push('\n');
    }
    section
}

fn render(message: &Message, names: &HashMap<&str, &str>) -> String {
    let mut text = String::new();
    for block in &message.content {
        if !text.is_empty() {
            text.push('\n');
        }
        match block {
            ContentBlock::Text { text: piece } => text.push_str(piece),
            ContentBlock::ToolUse { name, input, .. } => {
                // Name first, as the grammar has the model write it.
                let name = Value::String(name.clone());
                let call = format!("{{\"name\": {name}, \"arguments\": {input}}}");
                text.push_str(&format!("{CALL_OPEN}\n{call}\n{CALL_CLOSE}"));
            }
            // Plain words rather than tags: a small model copies tags into its answer,
            // while this reads as a request to answer from the data.
            ContentBlock::ToolResult {
                tool_use_id,
                content,
                is_error,
            } => {
                let tool = names
                    .get(tool_use_id.as_str())
                    .copied()
                    .unwrap_or("the tool");
                if *is_error {
                    text.push_str(&format!("{tool} failed: {content}"));
                } else {
                    text.push_str(&format!(
                        "{tool} returned:\n{content}\nAnswer my question from this data."
                    ));
                }
            }
        }
    }
    text
}

/// The JSON Schema of one call to any of `tools`, as text.
///
/// It is written out by hand because the order of keys matters: the grammar built from
/// it makes the model write the properties in the order given, and the model must name
/// the tool before it writes the arguments (serde_json would sort `arguments` first).
pub(crate) fn call_schema(tools: &[ToolSpec]) -> String {
    let calls: Vec<String> = tools
        .iter()
        .map(|tool| {
            format!(
                "{{\"type\":\"object\",\"properties\":{{\"name\":{{\"const\":{name}}},\
                 \"arguments\":{arguments}}},\"required\":[\"name\",\"arguments\"],\
                 \"additionalProperties\":false}}",
                name = Value::String(tool.name.clone()),
                arguments = tool.input_schema,
            )
        })
        .collect();
    match <[String; 1]>::try_from(calls) {
        Ok([one]) => one,
        Err(calls) => format!("{{\"oneOf\":[{}]}}", calls.join(",")),
    }
}

/// A GBNF grammar for `<tool_call>` + a call + `</tool_call>`, given the grammar of the
/// call's JSON (whose start rule is `root`).
pub(crate) fn call_grammar(json_grammar: &str) -> String {
    let mut grammar = String::new();
    for line in json_grammar.lines() {
        match line.strip_prefix("root ::=") {
            Some(rest) => grammar.push_str(&format!("tool-call-json ::={rest}")),
            None => grammar.push_str(line),
        }
        grammar.push('\n');
    }
    grammar.push_str(&format!(
        "root ::= \"{CALL_OPEN}\\n\" tool-call-json \"\\n{CALL_CLOSE}\"\n"
    ));
    grammar
}

/// Splits what the model wrote into its text and its tool calls.
pub(crate) fn parse_output(output: &str) -> (String, Vec<ToolCall>) {
    let Some(start) = output.find(CALL_OPEN) else {
        return (output.to_owned(), Vec::new());
    };
    let text = output[..start].trim_end().to_owned();
    let mut calls = Vec::new();
    let mut rest = &output[start..];
    while let Some(open) = rest.find(CALL_OPEN) {
        let body_start = open + CALL_OPEN.len();
        let (body, next) = match rest[body_start..].find(CALL_CLOSE) {
            Some(close) => (
                &rest[body_start..body_start + close],
                body_start + close + CALL_CLOSE.len(),
            ),
            None => (&rest[body_start..], rest.len()),
        };
        calls.push(read_call(calls.len(), body.trim()));
        rest = &rest[next..];
    }
    (text, calls)
}

fn read_call(index: usize, body: &str) -> ToolCall {
    let id = format!("call_{index}");
    let parsed: Result<Value, String> =
        serde_json::from_str(body).map_err(|error| error.to_string());
    match parsed {
        Ok(Value::Object(mut call)) => {
            let name = call
                .remove("name")
                .and_then(|name| name.as_str().map(str::to_owned));
            let input = call.remove("arguments").unwrap_or_else(|| json!({}));
            match name {
                Some(name) => ToolCall {
                    id,
                    name,
                    input,
                    malformed: None,
                },
                None => malformed(id, "the call has no \"name\""),
            }
        }
        Ok(_) => malformed(id, "the call is not a JSON object"),
        Err(error) => malformed(id, &format!("the call is not valid JSON ({error})")),
    }
}

fn malformed(id: String, reason: &str) -> ToolCall {
    ToolCall {
        id,
        name: String::new(),
        input: Value::Null,
        malformed: Some(reason.to_owned()),
    }
}

/// How much of `text` may be shown now: all of it, less any tail that could be the
/// beginning of [`CALL_OPEN`] and so must wait for the next token.
pub(crate) fn safe_prefix_len(text: &str) -> usize {
    for (index, _) in text.char_indices().rev().take(CALL_OPEN.len()) {
        if CALL_OPEN.starts_with(&text[index..]) {
            return index;
        }
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn the_grammar_makes_the_model_name_the_tool_before_its_arguments() -> TestResult {
        let spec = ToolSpec {
            name: "get_daily_forecast".into(),
            description: String::new(),
            input_schema: json!({ "type": "object", "properties": { "days": { "type": "integer" } }, "required": ["days"] }),
        };
        let grammar = llama_cpp_2::json_schema_to_grammar(&call_schema(&[spec]))?;
        let root = grammar
            .lines()
            .find(|line| line.starts_with("root ::="))
            .ok_or("no root rule")?;
        let name = root.find("name").ok_or("no name")?;
        let arguments = root.find("arguments").ok_or("no arguments")?;
        assert!(name < arguments, "{root}");
        Ok(())
    }

    #[test]
    fn text_without_a_call_is_all_text() {
        let (text, calls) = parse_output("Hello there!");
        assert_eq!(text, "Hello there!");
        assert!(calls.is_empty());
    }

    #[test]
    fn a_call_after_text_is_split_off() {
        let output = "Let me look.\n<tool_call>\n{\"name\": \"weather\", \"arguments\": {\"days\": 2}}\n</tool_call>";
        let (text, calls) = parse_output(output);
        assert_eq!(text, "Let me look.");
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].name, "weather");
        assert_eq!(calls[0].input, json!({ "days": 2 }));
    }

    #[test]
    fn an_unclosed_call_is_still_read() {
        let (_, calls) = parse_output("<tool_call>{\"name\": \"a\", \"arguments\": {}}");
        assert_eq!(calls[0].name, "a");
        assert!(calls[0].malformed.is_none());
    }

    #[test]
    fn a_broken_call_is_marked_malformed() {
        let (_, calls) = parse_output("<tool_call>{\"name\": </tool_call>");
        assert!(
            calls[0]
                .malformed
                .as_deref()
                .is_some_and(|why| why.contains("not valid JSON"))
        );
    }

    #[test]
    fn a_partial_opening_tag_is_held_back() {
        assert_eq!(safe_prefix_len("Sure <tool"), 5);
        assert_eq!(safe_prefix_len("Sure <"), 5);
        assert_eq!(safe_prefix_len("a < b"), 5);
        assert_eq!(safe_prefix_len("héllo"), "héllo".len());
    }

    #[test]
    fn the_grammar_wraps_the_json_rule_in_tags() {
        let grammar = call_grammar("root ::= object\nobject ::= \"{\" \"}\"\n");
        assert!(grammar.contains("tool-call-json ::= object"));
        assert!(grammar.contains("root ::= \"<tool_call>\\n\" tool-call-json \"\\n</tool_call>\""));
    }

    #[test]
    fn one_tool_gives_a_plain_schema_and_several_a_one_of() -> TestResult {
        let spec = |name: &str| ToolSpec {
            name: name.into(),
            description: String::new(),
            input_schema: json!({ "type": "object" }),
        };
        let one: Value = serde_json::from_str(&call_schema(&[spec("a")]))?;
        assert_eq!(one["properties"]["name"]["const"], "a");
        let two: Value = serde_json::from_str(&call_schema(&[spec("a"), spec("b")]))?;
        assert_eq!(two["oneOf"].as_array().map(Vec::len), Some(2));
        Ok(())
    }
}

//! A Messages API request as the proxy needs to know it: which model, whether it streams,
//! the text it carries (for guards), and what of it goes into the audit record. The body
//! itself is forwarded as received, byte for byte.

use serde_json::{Map, Value};

use super::error::LlmError;

/// The request's keys that hold the conversation: left out of audit records unless
/// `log_prompts: true`.
const PROMPT_KEYS: [&str; 2] = ["system", "messages"];

#[derive(Debug)]
pub struct MessagesRequest {
    pub model: String,
    pub stream: bool,
    body: Map<String, Value>,
}

impl MessagesRequest {
    /// Read the body of `POST /v1/messages` or `/v1/messages/count_tokens`.
    pub fn parse(bytes: &[u8]) -> Result<MessagesRequest, LlmError> {
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|_| LlmError::InvalidRequest("the request body is not JSON".into()))?;
        let Value::Object(body) = value else {
            return Err(LlmError::InvalidRequest(
                "the request body must be a JSON object".into(),
            ));
        };
        let model = match body.get("model") {
            Some(Value::String(model)) if !model.is_empty() => model.clone(),
            _ => {
                return Err(LlmError::InvalidRequest(
                    "model: a model name is required".into(),
                ));
            }
        };
        let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
        Ok(MessagesRequest {
            model,
            stream,
            body,
        })
    }

    /// Every text the request sends the model: the system prompt and each message's text,
    /// whether written as a string or as `text` blocks (tool results included).
    pub fn texts(&self) -> Vec<&str> {
        let mut texts = Vec::new();
        for key in PROMPT_KEYS {
            if let Some(value) = self.body.get(key) {
                collect_texts(value, &mut texts);
            }
        }
        texts
    }

    /// The audit record's `parameters`: the request without its conversation, or all of it
    /// when prompts are logged (the auditor redacts secret-looking keys either way).
    pub fn audit_parameters(&self, log_prompts: bool) -> Value {
        let mut parameters = self.body.clone();
        if !log_prompts {
            for key in PROMPT_KEYS {
                parameters.remove(key);
            }
        }
        Value::Object(parameters)
    }
}

/// The texts of a message, content or block list: strings, `text` fields and the content of
/// nested blocks (tool results), depth first.
fn collect_texts<'a>(value: &'a Value, texts: &mut Vec<&'a str>) {
    match value {
        Value::String(text) => texts.push(text),
        Value::Array(items) => items.iter().for_each(|item| collect_texts(item, texts)),
        Value::Object(object) => {
            if let Some(Value::String(text)) = object.get("text") {
                texts.push(text);
            }
            if let Some(content) = object.get("content") {
                collect_texts(content, texts);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(value: Value) -> Result<MessagesRequest, LlmError> {
        MessagesRequest::parse(value.to_string().as_bytes())
    }

    #[test]
    fn model_and_stream_are_read() {
        let request = parse(json!({"model": "claude-x", "stream": true, "messages": []})).unwrap();
        assert_eq!(request.model, "claude-x");
        assert!(request.stream);
        assert!(!parse(json!({"model": "m"})).unwrap().stream);
    }

    #[test]
    fn a_body_without_a_model_is_refused() {
        for bad in [
            json!({}),
            json!({"model": 3}),
            json!({"model": ""}),
            json!([1]),
        ] {
            assert!(matches!(parse(bad), Err(LlmError::InvalidRequest(_))));
        }
        assert!(MessagesRequest::parse(b"{").is_err());
    }

    #[test]
    fn texts_cover_system_strings_blocks_and_tool_results() {
        let request = parse(json!({
            "model": "m",
            "system": [{"type": "text", "text": "sys"}],
            "messages": [
                {"role": "user", "content": "plain"},
                {"role": "assistant", "content": [{"type": "text", "text": "block"},
                    {"type": "tool_use", "id": "t", "name": "n", "input": {"text": "not sent as text"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t",
                    "content": [{"type": "text", "text": "result"}]}]}
            ]
        }))
        .unwrap();
        assert_eq!(request.texts(), ["sys", "plain", "block", "result"]);
    }

    #[test]
    fn audit_parameters_leave_the_conversation_out_unless_asked() {
        let request = parse(json!({"model": "m", "max_tokens": 5, "system": "s",
                                   "messages": [{"role": "user", "content": "hi"}]}))
        .unwrap();
        assert_eq!(
            request.audit_parameters(false),
            json!({"model": "m", "max_tokens": 5})
        );
        assert_eq!(
            request.audit_parameters(true)["messages"][0]["content"],
            "hi"
        );
    }
}

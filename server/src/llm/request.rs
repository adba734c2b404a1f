//! A Messages API request as the proxy needs to know it: which model, whether it streams,
//! the text it carries (for guards), and what of it goes into the audit record. The body
//! itself is forwarded as received, byte for byte.

use serde_json::{Map, Value};

use super::error::LlmError;

/// The request's keys that hold the conversation: left out of audit records unless
/// `log_prompts: true`.
const PROMPT_KEYS: [&str; 2] = ["system", "messages"];

/// Everything a request sends the model as text: the conversation, and the tools'
/// descriptions and schemas (guards read all of it).
const TEXT_KEYS: [&str; 3] = ["system", "messages", "tools"];

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

    /// Every text the request sends the model: each string anywhere under `system`,
    /// `messages` and `tools` (text blocks, tool inputs and results, documents, tool
    /// descriptions), except base64 media data, which is not text. Guards match each of them
    /// and all of them joined, so that text split across blocks is still seen whole.
    pub fn texts(&self) -> Vec<&str> {
        let mut texts = Vec::new();
        for key in TEXT_KEYS {
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

/// Every string under `value`, depth first, except the `data` of a base64 `source`
/// (an image's or a PDF's bytes).
fn collect_texts<'a>(value: &'a Value, texts: &mut Vec<&'a str>) {
    match value {
        Value::String(text) => texts.push(text),
        Value::Array(items) => items.iter().for_each(|item| collect_texts(item, texts)),
        Value::Object(object) => {
            let base64 = object.get("type").and_then(Value::as_str) == Some("base64");
            for (key, item) in object {
                if base64 && key == "data" {
                    continue;
                }
                collect_texts(item, texts);
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
    fn texts_cover_every_string_of_the_conversation_and_the_tools_but_no_media_bytes() {
        let request = parse(json!({
            "model": "m",
            "system": [{"type": "text", "text": "sys"}],
            "messages": [
                {"role": "user", "content": "plain"},
                {"role": "assistant", "content": [{"type": "text", "text": "block"},
                    {"type": "tool_use", "id": "t", "name": "n", "input": {"query": "tool input"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t",
                    "content": [{"type": "text", "text": "result"}]},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                    {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "doc text"}}]}
            ],
            "tools": [{"name": "lookup", "description": "tool description"}],
            "max_tokens": 5
        }))
        .unwrap();
        let texts = request.texts();
        for expected in [
            "sys",
            "plain",
            "block",
            "tool input",
            "result",
            "doc text",
            "tool description",
        ] {
            assert!(texts.contains(&expected), "{expected} not in {texts:?}");
        }
        assert!(!texts.contains(&"iVBORw0KGgo="), "{texts:?}");
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

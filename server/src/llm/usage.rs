//! What a Messages API exchange used, read from the answer: the JSON body of a plain request,
//! or the events of a stream (`message_start` carries the input side and the first output
//! count, each `message_delta` the output count so far and the stop reason). Pure: the relay
//! feeds it what passes through and asks for the totals at the end.

use serde_json::{Value, json};

/// Token counts and the stop reason of one exchange, as Anthropic reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub stop_reason: Option<String>,
}

impl Usage {
    /// From a Messages API JSON answer (`{"type":"message", "usage":{…}, …}`).
    pub fn from_message(message: &Value) -> Usage {
        let mut usage = Usage::default();
        usage.add_message(message);
        usage
    }

    /// What budgets are charged: the tokens read fresh and written. Cache reads are left out,
    /// as Anthropic's own input limits leave them out: they are what caching is for.
    pub fn charged_tokens(&self) -> u64 {
        self.input_tokens
            .saturating_add(self.cache_creation_input_tokens)
            .saturating_add(self.output_tokens)
    }

    /// The audit record's `details` (SPEC §14), with the request's `model` and `stream`.
    pub fn details(&self, model: &str, stream: bool) -> Value {
        json!({
            "model": model,
            "stream": stream,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "stop_reason": self.stop_reason,
        })
    }

    /// One event of a stream, by its `event:` name and its `data:` JSON.
    pub fn add_event(&mut self, event: &str, data: &str) {
        match event {
            "message_start" | "message_delta" => {}
            _ => return,
        }
        let Ok(value) = serde_json::from_str::<Value>(data) else {
            return;
        };
        match event {
            "message_start" => {
                if let Some(message) = value.get("message") {
                    self.add_message(message);
                }
            }
            _ => {
                // Counts in a delta are totals so far, not increments.
                if let Some(usage) = value.get("usage") {
                    self.take_counts(usage);
                }
                if let Some(reason) = value.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.stop_reason = Some(reason.to_owned());
                }
            }
        }
    }

    fn add_message(&mut self, message: &Value) {
        if let Some(usage) = message.get("usage") {
            self.take_counts(usage);
        }
        if let Some(reason) = message.get("stop_reason").and_then(Value::as_str) {
            self.stop_reason = Some(reason.to_owned());
        }
    }

    /// Each count the object carries replaces the one known (a later report is the larger).
    fn take_counts(&mut self, usage: &Value) {
        let count = |name: &str| usage.get(name).and_then(Value::as_u64);
        if let Some(n) = count("input_tokens") {
            self.input_tokens = n;
        }
        if let Some(n) = count("output_tokens") {
            self.output_tokens = n;
        }
        if let Some(n) = count("cache_creation_input_tokens") {
            self.cache_creation_input_tokens = n;
        }
        if let Some(n) = count("cache_read_input_tokens") {
            self.cache_read_input_tokens = n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_answer_gives_every_count_and_the_stop_reason() {
        let message = json!({
            "type": "message", "model": "claude-sonnet-4-5", "stop_reason": "end_turn",
            "usage": {"input_tokens": 12, "output_tokens": 34,
                      "cache_creation_input_tokens": 5, "cache_read_input_tokens": 100}
        });
        let usage = Usage::from_message(&message);
        assert_eq!(
            usage,
            Usage {
                input_tokens: 12,
                output_tokens: 34,
                cache_creation_input_tokens: 5,
                cache_read_input_tokens: 100,
                stop_reason: Some("end_turn".into()),
            }
        );
        assert_eq!(usage.charged_tokens(), 12 + 5 + 34);
    }

    #[test]
    fn a_stream_gives_input_at_the_start_and_output_totals_in_deltas() {
        let mut usage = Usage::default();
        usage.add_event(
            "message_start",
            r#"{"type":"message_start","message":{"model":"m","stop_reason":null,
                "usage":{"input_tokens":25,"output_tokens":1,"cache_read_input_tokens":7}}}"#,
        );
        usage.add_event("content_block_delta", r#"{"usage":{"output_tokens":999}}"#);
        usage.add_event("ping", "{}");
        usage.add_event(
            "message_delta",
            r#"{"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":15}}"#,
        );
        usage.add_event(
            "message_delta",
            r#"{"type":"message_delta","delta":{},"usage":{"output_tokens":40}}"#,
        );
        assert_eq!(usage.input_tokens, 25);
        assert_eq!(usage.output_tokens, 40, "the last total, not a sum");
        assert_eq!(usage.cache_read_input_tokens, 7);
        assert_eq!(usage.stop_reason.as_deref(), Some("max_tokens"));
    }

    #[test]
    fn broken_events_change_nothing() {
        let mut usage = Usage::default();
        usage.add_event("message_start", "not json");
        usage.add_event("message_delta", r#"{"usage":{"output_tokens":"many"}}"#);
        assert_eq!(usage, Usage::default());
    }

    #[test]
    fn details_have_the_spec_fields() {
        let usage = Usage {
            input_tokens: 1,
            output_tokens: 2,
            ..Usage::default()
        };
        assert_eq!(
            usage.details("claude-x", true),
            json!({"model": "claude-x", "stream": true, "input_tokens": 1, "output_tokens": 2,
                   "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                   "stop_reason": null})
        );
    }
}

//! The outcome of a broadcast and its shapes (SPEC §6, §7, §13): the REST body, which is also
//! the MCP `structuredContent`, and the MCP result with its text summary and resource item.
//! Pure: no I/O.

use std::collections::BTreeMap;
use std::time::Duration;

use rmcp::model::{CallToolResult, ContentBlock, ResourceContents};
use serde_json::{Map, Value, json};

use crate::result_shape::{display_text, payload};
use crate::upstream::CallError;

/// What happened at one target.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetOutcome {
    /// The tool ran; its result may still be an `isError` result (counted as failed).
    Ran {
        result: CallToolResult,
        /// How long the target's call took.
        took: Duration,
    },
    /// No result.
    Failed {
        failure: TargetFailure,
        /// How long the target's call took; `None` for a target that was never called.
        took: Option<Duration>,
    },
}

/// Why a target gave no result. Its text is the broadcast's `errors` entry (SPEC §13); its
/// audit status is derived from the type, never from the text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TargetFailure {
    /// Named by the caller, who may not call it (not called).
    #[error("access denied")]
    Denied,
    /// Over a rate limit of its own (not called).
    #[error("rate limit exceeded")]
    RateLimited,
    /// Called, and the call gave no result.
    #[error(transparent)]
    Call(CallError),
}

impl TargetOutcome {
    pub fn succeeded(&self) -> bool {
        matches!(self, TargetOutcome::Ran { result, .. } if result.is_error != Some(true))
    }

    /// How long the target's call took, if it was called.
    pub fn took(&self) -> Option<Duration> {
        match self {
            TargetOutcome::Ran { took, .. } => Some(*took),
            TargetOutcome::Failed { took, .. } => *took,
        }
    }
}

/// Every target's outcome, by server name (sorted), and how long the whole fan-out took.
#[derive(Debug, Clone, PartialEq)]
pub struct BroadcastReport {
    /// The backend tool that was called (for tag broadcasts, the chosen `tool_name`).
    pub tool_name: String,
    pub outcomes: BTreeMap<String, TargetOutcome>,
    pub execution_time: Duration,
}

const RULE: &str =
    "--------------------------------------------------------------------------------";

impl BroadcastReport {
    pub fn total(&self) -> usize {
        self.outcomes.len()
    }

    pub fn successful(&self) -> usize {
        self.outcomes.values().filter(|o| o.succeeded()).count()
    }

    pub fn failed(&self) -> usize {
        self.total() - self.successful()
    }

    pub fn execution_time_ms(&self) -> u64 {
        millis(self.execution_time)
    }

    /// The REST body of `/mcp/invoke-broadcast`, also the MCP `structuredContent`.
    pub fn to_json(&self) -> Value {
        let mut results = Map::new();
        let mut call_results = Map::new();
        let mut errors = Map::new();
        let mut durations = Map::new();
        for (server, outcome) in &self.outcomes {
            if let Some(took) = outcome.took() {
                durations.insert(server.clone(), Value::from(millis(took)));
            }
            match outcome {
                TargetOutcome::Ran { result, .. } => {
                    results.insert(server.clone(), payload(result));
                    call_results.insert(
                        server.clone(),
                        serde_json::to_value(result).unwrap_or(Value::Null),
                    );
                }
                TargetOutcome::Failed { failure, .. } => {
                    errors.insert(server.clone(), Value::String(failure.to_string()));
                }
            }
        }
        json!({
            "tool_name": self.tool_name,
            "total_servers": self.total(),
            "successful": self.successful(),
            "failed": self.failed(),
            "execution_time_ms": self.execution_time_ms(),
            "durations_ms": durations,
            "results": results,
            "errors": errors,
            "call_results": call_results,
        })
    }

    /// The text summary of SPEC §6, blocks sorted by server name.
    pub fn summary_text(&self) -> String {
        let mut text = format!(
            "BROADCAST RESULTS: {}\nTotal Servers: {}\nSuccessful: {}\nFailed: {}\nExecution Time: {}ms\n\nRESULTS BY SERVER:\n{RULE}\n",
            self.tool_name,
            self.total(),
            self.successful(),
            self.failed(),
            self.execution_time_ms(),
        );
        let blocks: Vec<String> = self
            .outcomes
            .iter()
            .map(|(server, outcome)| match outcome {
                TargetOutcome::Ran { result, .. } => {
                    format!("[{server}]\n{}", display_text(result))
                }
                TargetOutcome::Failed { failure, .. } => format!("[{server}] ERROR: {failure}"),
            })
            .collect();
        for block in blocks {
            text.push('\n');
            text.push_str(&block);
            text.push('\n');
        }
        text
    }

    /// The MCP result: the summary, a JSON resource item, `structuredContent`; `isError` only
    /// when every target failed.
    pub fn to_call_tool_result(&self) -> CallToolResult {
        let structured = self.to_json();
        let resource = ResourceContents::text(
            structured.to_string(),
            format!("gateway://results/{}", self.tool_name),
        )
        .with_mime_type("application/json");
        let content = vec![
            ContentBlock::text(self.summary_text()),
            ContentBlock::resource(resource),
        ];
        let mut result = if self.total() > 0 && self.successful() == 0 {
            CallToolResult::error(content)
        } else {
            CallToolResult::success(content)
        };
        result.structured_content = Some(structured);
        result
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ran(text: &str) -> TargetOutcome {
        TargetOutcome::Ran {
            result: CallToolResult::success(vec![ContentBlock::text(text)]),
            took: Duration::from_millis(5),
        }
    }

    fn ran_error(text: &str) -> TargetOutcome {
        TargetOutcome::Ran {
            result: CallToolResult::error(vec![ContentBlock::text(text)]),
            took: Duration::from_millis(7),
        }
    }

    fn failed(failure: TargetFailure, took: Option<u64>) -> TargetOutcome {
        TargetOutcome::Failed {
            failure,
            took: took.map(Duration::from_millis),
        }
    }

    fn report(outcomes: Vec<(&str, TargetOutcome)>) -> BroadcastReport {
        BroadcastReport {
            tool_name: "search_logs".into(),
            outcomes: outcomes
                .into_iter()
                .map(|(s, o)| (s.to_owned(), o))
                .collect(),
            execution_time: Duration::from_millis(1247),
        }
    }

    #[test]
    fn summary_text_matches_the_spec_layout() {
        let r = report(vec![
            ("prod-elk-2", ran("two")),
            ("prod-elk-1", ran("one\nmore")),
        ]);
        assert_eq!(
            r.summary_text(),
            "BROADCAST RESULTS: search_logs\nTotal Servers: 2\nSuccessful: 2\nFailed: 0\nExecution Time: 1247ms\n\nRESULTS BY SERVER:\n--------------------------------------------------------------------------------\n\n[prod-elk-1]\none\nmore\n\n[prod-elk-2]\ntwo\n"
        );
    }

    #[test]
    fn failures_show_as_error_blocks_in_server_order() {
        let r = report(vec![
            (
                "b",
                failed(
                    TargetFailure::Call(CallError::Timeout(Duration::from_secs(1))),
                    Some(1000),
                ),
            ),
            ("a", ran("fine")),
            (
                "c",
                failed(TargetFailure::Call(CallError::Unavailable), Some(0)),
            ),
        ]);
        let text = r.summary_text();
        let a = text.find("[a]\nfine").expect("a");
        let b = text.find("[b] ERROR: timeout after 1 s").expect("b");
        let c = text.find("[c] ERROR: backend unavailable").expect("c");
        assert!(a < b && b < c, "{text}");
        assert!(text.contains("Successful: 1\nFailed: 2\n"));
    }

    #[test]
    fn json_counts_error_results_as_failed_but_keeps_them_in_results() {
        let r = report(vec![
            ("a", ran("{\"hits\":3}")),
            ("b", ran_error("boom")),
            ("c", failed(TargetFailure::Denied, None)),
            (
                "d",
                failed(TargetFailure::Call(CallError::Cancelled), Some(30)),
            ),
        ]);
        let j = r.to_json();
        assert_eq!(j["total_servers"], 4);
        assert_eq!(j["successful"], 1);
        assert_eq!(j["failed"], 3);
        assert_eq!(j["results"]["a"], json!({"hits": 3}));
        assert_eq!(j["results"]["b"], json!("boom"));
        assert_eq!(
            j["errors"],
            json!({"c": "access denied", "d": "cancelled by the caller"})
        );
        // Every target that was called, and only those.
        assert_eq!(j["durations_ms"], json!({"a": 5, "b": 7, "d": 30}));
        assert_eq!(j["call_results"]["b"]["isError"], true);
        assert_eq!(j["execution_time_ms"], 1247);
        let keys: Vec<_> = j.as_object().expect("object").keys().cloned().collect();
        assert_eq!(
            keys,
            [
                "call_results",
                "durations_ms",
                "errors",
                "execution_time_ms",
                "failed",
                "results",
                "successful",
                "tool_name",
                "total_servers"
            ]
        );
    }

    #[test]
    fn mcp_result_has_text_resource_and_structured_content() {
        let r = report(vec![
            ("a", ran("x")),
            ("b", failed(TargetFailure::RateLimited, None)),
        ]);
        let result = r.to_call_tool_result();
        assert_eq!(result.is_error, Some(false));
        assert_eq!(result.content.len(), 2);
        let wire = serde_json::to_value(&result).expect("serialize");
        assert_eq!(wire["content"][1]["type"], "resource");
        assert_eq!(
            wire["content"][1]["resource"]["uri"],
            "gateway://results/search_logs"
        );
        assert_eq!(
            wire["content"][1]["resource"]["mimeType"],
            "application/json"
        );
        let text = wire["content"][1]["resource"]["text"]
            .as_str()
            .expect("text");
        assert_eq!(
            serde_json::from_str::<Value>(text).expect("json"),
            r.to_json()
        );
        assert_eq!(wire["structuredContent"], r.to_json());
    }

    #[test]
    fn is_error_only_when_every_target_failed() {
        let all_failed = report(vec![
            (
                "a",
                failed(TargetFailure::Call(CallError::Unavailable), Some(1)),
            ),
            ("b", ran_error("y")),
        ]);
        assert_eq!(all_failed.to_call_tool_result().is_error, Some(true));
        let none = report(vec![]);
        assert_eq!(none.to_call_tool_result().is_error, Some(false));
    }
}

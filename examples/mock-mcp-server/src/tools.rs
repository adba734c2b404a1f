//! The mock's tools: their definitions (built once at start) and what each one does.

use std::{sync::Arc, time::Duration};

use http::request::Parts;
use rmcp::{
    ErrorData as McpError, RoleServer,
    model::{
        CallToolResult, ContentBlock, JsonObject, ProgressNotificationParam, Tool, ToolAnnotations,
    },
    service::RequestContext,
};
use serde_json::{Map, Value, json};

/// Every tool the mock knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ToolName {
    SearchLogs,
    CheckHealth,
    Query,
    Echo,
    Sleep,
    Fail,
    Crash,
    GetEnv,
    Headers,
    Sleeps,
}

impl ToolName {
    pub const ALL: [ToolName; 10] = [
        ToolName::SearchLogs,
        ToolName::CheckHealth,
        ToolName::Query,
        ToolName::Echo,
        ToolName::Sleep,
        ToolName::Fail,
        ToolName::Crash,
        ToolName::GetEnv,
        ToolName::Headers,
        ToolName::Sleeps,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ToolName::SearchLogs => "search_logs",
            ToolName::CheckHealth => "check_health",
            ToolName::Query => "query",
            ToolName::Echo => "echo",
            ToolName::Sleep => "sleep",
            ToolName::Fail => "fail",
            ToolName::Crash => "crash",
            ToolName::GetEnv => "get_env",
            ToolName::Headers => "headers",
            ToolName::Sleeps => "sleeps",
        }
    }

    pub fn parse(name: &str) -> Option<ToolName> {
        Self::ALL.into_iter().find(|tool| tool.as_str() == name)
    }

    /// Tools for tests only, offered with `--test-tools`: they fail, crash the process, or
    /// show its environment and the request's headers, none of which a demo should offer.
    pub fn is_test_only(self) -> bool {
        matches!(
            self,
            ToolName::Fail
                | ToolName::Crash
                | ToolName::GetEnv
                | ToolName::Headers
                | ToolName::Sleeps
        )
    }

    /// What a server offers by default: the demo tools, and the test tools when asked for.
    pub fn defaults(test_tools: bool) -> Vec<ToolName> {
        Self::ALL
            .into_iter()
            .filter(|tool| test_tools || !tool.is_test_only())
            .collect()
    }

    fn definition(self) -> Tool {
        let tool = Tool::new(
            self.as_str(),
            self.description(),
            schema(self.input_schema()),
        );
        match self {
            ToolName::SearchLogs | ToolName::Query => {
                tool.with_annotations(ToolAnnotations::new().read_only(true).open_world(false))
            }
            ToolName::CheckHealth => tool
                .with_raw_output_schema(schema(json!({
                    "type": "object",
                    "properties": {
                        "server": {"type": "string"},
                        "status": {"type": "string"}
                    },
                    "required": ["server", "status"]
                })))
                .with_annotations(ToolAnnotations::new().read_only(true)),
            _ => tool,
        }
    }

    fn description(self) -> &'static str {
        match self {
            ToolName::SearchLogs => "Search the server's (fake) logs for a query",
            ToolName::CheckHealth => "Report the server's health as structured content",
            ToolName::Query => "Run a read-only SQL query against the server's (fake) database",
            ToolName::Echo => "Return the arguments as compact JSON text",
            ToolName::Sleep => {
                "Sleep for some seconds, reporting progress every 100 ms; stops when cancelled"
            }
            ToolName::Sleeps => {
                "List this process's sleep calls by their 'tag' argument: {\"started\": [...], \"cancelled\": [...]}"
            }
            ToolName::Fail => "Return a tool error (isError) with the given message",
            ToolName::Crash => "Exit the server process at once with code 3",
            ToolName::GetEnv => "Return the value of an environment variable, or <unset>",
            ToolName::Headers => {
                "Return the HTTP request headers of this call as JSON, its JSON-RPC id under \":request-id\" and its _meta under \":meta\""
            }
        }
    }

    fn input_schema(self) -> Value {
        match self {
            ToolName::SearchLogs => json!({
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "Text to search for"},
                    "limit": {"type": "integer", "minimum": 0, "description": "Most hits to return"}
                },
                "required": ["query"]
            }),
            ToolName::Query => json!({
                "type": "object",
                "properties": {
                    "sql": {"type": "string", "description": "A SELECT statement"},
                    "limit": {"type": "integer", "minimum": 0, "description": "Most rows to return"}
                },
                "required": ["sql"]
            }),
            ToolName::Echo => json!({"type": "object", "additionalProperties": true}),
            ToolName::Sleep => json!({
                "type": "object",
                "properties": {
                    "seconds": {"type": "number", "minimum": 0},
                    "tag": {"type": "string", "description": "How `sleeps` names this call"}
                },
                "required": ["seconds"]
            }),
            ToolName::Fail => json!({
                "type": "object",
                "properties": {"message": {"type": "string"}}
            }),
            ToolName::GetEnv => json!({
                "type": "object",
                "properties": {"name": {"type": "string"}},
                "required": ["name"]
            }),
            ToolName::CheckHealth | ToolName::Crash | ToolName::Headers | ToolName::Sleeps => {
                json!({"type": "object", "properties": {}})
            }
        }
    }
}

fn schema(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(object) => Arc::new(object),
        _ => Arc::new(Map::new()),
    }
}

/// The tools one server offers, with their definitions built once.
#[derive(Debug)]
pub struct ToolSet {
    offered: Vec<ToolName>,
    definitions: Vec<Tool>,
}

impl ToolSet {
    /// The tools to offer, in the order of [`ToolName::ALL`].
    pub fn new(offer: &[ToolName]) -> Self {
        let offered: Vec<ToolName> = ToolName::ALL
            .into_iter()
            .filter(|tool| offer.contains(tool))
            .collect();
        let definitions = offered.iter().map(|tool| tool.definition()).collect();
        Self {
            offered,
            definitions,
        }
    }

    pub fn definitions(&self) -> &[Tool] {
        &self.definitions
    }

    /// The offered tool called `name`.
    pub fn find(&self, name: &str) -> Option<ToolName> {
        ToolName::parse(name).filter(|tool| self.offered.contains(tool))
    }

    pub fn definition(&self, name: &str) -> Option<Tool> {
        self.definitions
            .iter()
            .find(|tool| tool.name == name)
            .cloned()
    }
}

/// Everything a tool may need besides its arguments.
pub struct CallContext<'a> {
    pub server_name: &'a str,
    pub request: RequestContext<RoleServer>,
}

/// Runs `tool`. Bad arguments are a tool error (`isError`), as the MCP specification asks of
/// input validation failures.
pub async fn call(
    tool: ToolName,
    arguments: JsonObject,
    context: CallContext<'_>,
) -> Result<CallToolResult, McpError> {
    let name = context.server_name;
    Ok(match tool {
        ToolName::SearchLogs => search_logs(name, &arguments),
        ToolName::Query => query(name, &arguments),
        ToolName::CheckHealth => {
            CallToolResult::structured(json!({"server": name, "status": "ok"}))
        }
        ToolName::Echo => text(Value::Object(arguments).to_string()),
        ToolName::Sleep => sleep(&arguments, &context.request).await,
        ToolName::Fail => CallToolResult::error(vec![ContentBlock::text(
            string_argument(&arguments, "message").unwrap_or("failure requested"),
        )]),
        ToolName::Crash => {
            tracing::warn!(server = name, "crash requested: exiting with code 3");
            std::process::exit(3)
        }
        ToolName::GetEnv => match string_argument(&arguments, "name") {
            Some(variable) => {
                text(std::env::var(variable).unwrap_or_else(|_| "<unset>".to_owned()))
            }
            None => invalid_arguments("get_env needs a string 'name'"),
        },
        ToolName::Headers => {
            let mut seen = headers_json(context.request.extensions.get::<Parts>());
            // Not a header name (those never contain ':'): tests use it to tell which client
            // path sent the call.
            seen[REQUEST_ID_KEY] = serde_json::to_value(&context.request.id).unwrap_or_default();
            seen[META_KEY] = serde_json::to_value(&context.request.meta).unwrap_or_default();
            text(seen.to_string())
        }
        ToolName::Sleeps => text(sleeps_json().to_string()),
    })
}

/// The `tag`s of the sleep calls this process started and saw cancelled, oldest first: how
/// tests learn that a call reached the backend, and that its cancellation did, whatever the
/// transport.
static SLEEPS: std::sync::Mutex<Sleeps> = std::sync::Mutex::new(Sleeps {
    started: Vec::new(),
    cancelled: Vec::new(),
});

struct Sleeps {
    started: Vec<String>,
    cancelled: Vec<String>,
}

fn sleeps_json() -> Value {
    match SLEEPS.lock() {
        Ok(sleeps) => json!({"started": sleeps.started, "cancelled": sleeps.cancelled}),
        Err(_) => json!({}),
    }
}

fn note_sleep(tag: Option<&str>, cancelled: bool) {
    if let (Some(tag), Ok(mut sleeps)) = (tag, SLEEPS.lock()) {
        let list = if cancelled {
            &mut sleeps.cancelled
        } else {
            &mut sleeps.started
        };
        list.push(tag.to_owned());
    }
}

fn text(content: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(content)])
}

fn invalid_arguments(message: &str) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}

fn string_argument<'a>(arguments: &'a JsonObject, key: &str) -> Option<&'a str> {
    arguments.get(key).and_then(Value::as_str)
}

/// Hits returned when the caller gives no limit, and the most ever returned.
const DEFAULT_HITS: u64 = 3;
const MAX_HITS: u64 = 20;

/// The optional `limit` of `tool`: [`DEFAULT_HITS`] when absent, at most [`MAX_HITS`]; a tool
/// error when it is not a non-negative integer.
fn limit_argument(arguments: &JsonObject, tool: &str) -> Result<u64, CallToolResult> {
    match arguments.get("limit") {
        None | Some(Value::Null) => Ok(DEFAULT_HITS),
        Some(limit) => limit
            .as_u64()
            .map(|limit| limit.min(MAX_HITS))
            .ok_or_else(|| {
                invalid_arguments(&format!("{tool} 'limit' must be a non-negative integer"))
            }),
    }
}

fn search_logs(server: &str, arguments: &JsonObject) -> CallToolResult {
    let Some(query) = string_argument(arguments, "query") else {
        return invalid_arguments("search_logs needs a string 'query'");
    };
    let hits = match limit_argument(arguments, "search_logs") {
        Ok(hits) => hits,
        Err(bad) => return bad,
    };
    let mut lines = vec![format!("[{server}] search_logs query={query}: {hits} hits")];
    for hit in 0..hits {
        lines.push(format!(
            "2026-01-01T00:00:{:02}Z {server} INFO service-{hit}: matched \"{query}\"",
            hit % 60
        ));
    }
    text(lines.join("\n"))
}

/// Rows of a fake `pg_stat_activity`-like table, whatever the query: plausible, stable, and
/// naming the server, so that a broadcast shows which replica answered.
fn query(server: &str, arguments: &JsonObject) -> CallToolResult {
    let Some(sql) = string_argument(arguments, "sql") else {
        return invalid_arguments("query needs a string 'sql'");
    };
    if !sql.trim_start().to_ascii_lowercase().starts_with("select") {
        return invalid_arguments("query runs read-only SELECT statements only");
    }
    let rows = match limit_argument(arguments, "query") {
        Ok(rows) => rows,
        Err(bad) => return bad,
    };
    let rows: Vec<Value> = (0..rows)
        .map(|row| {
            json!({
                "server": server,
                "pid": 4100 + row,
                "state": if row % 3 == 0 { "active" } else { "idle" },
                "database": "orders",
                "duration_ms": 12 * (row + 1),
            })
        })
        .collect();
    CallToolResult::structured(json!({"sql": sql, "row_count": rows.len(), "rows": rows}))
}

/// The longest sleep accepted, so that a typo cannot park a call for days.
const MAX_SLEEP_SECONDS: f64 = 3600.0;
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

async fn sleep(arguments: &JsonObject, request: &RequestContext<RoleServer>) -> CallToolResult {
    let seconds = match arguments.get("seconds").and_then(Value::as_f64) {
        Some(seconds) if seconds.is_finite() && (0.0..=MAX_SLEEP_SECONDS).contains(&seconds) => {
            seconds
        }
        _ => return invalid_arguments("sleep needs 'seconds' between 0 and 3600"),
    };
    let total = Duration::from_secs_f64(seconds);
    note_sleep(string_argument(arguments, "tag"), false);
    let progress_token = request.meta.get_progress_token();
    let started = tokio::time::Instant::now();
    let deadline = started + total;
    let mut ticks = tokio::time::interval_at(started + PROGRESS_INTERVAL, PROGRESS_INTERVAL);
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => break,
            () = request.ct.cancelled() => {
                let elapsed = started.elapsed().as_secs_f64();
                note_sleep(string_argument(arguments, "tag"), true);
                return text(format!("cancelled after {elapsed:.1} s"));
            }
            _ = ticks.tick(), if progress_token.is_some() => {
                if let Some(token) = &progress_token {
                    let progress = ProgressNotificationParam::new(
                        token.clone(),
                        started.elapsed().as_secs_f64(),
                    )
                    .with_total(seconds);
                    // A client that went away is noticed by cancellation, not here.
                    let _ = request.peer.notify_progress(progress).await;
                }
            }
        }
    }
    text(format!("slept {seconds} s"))
}

/// Where the `headers` tool puts the call's JSON-RPC id.
const REQUEST_ID_KEY: &str = ":request-id";
/// Where the `headers` tool puts the call's `_meta`.
const META_KEY: &str = ":meta";

/// The request headers as a JSON object; repeated headers are joined with ", ".
fn headers_json(parts: Option<&Parts>) -> Value {
    let mut object = Map::new();
    if let Some(parts) = parts {
        for name in parts.headers.keys() {
            let values: Vec<String> = parts
                .headers
                .get_all(name)
                .iter()
                .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
                .collect();
            object.insert(name.as_str().to_owned(), Value::String(values.join(", ")));
        }
    }
    Value::Object(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(value: Value) -> JsonObject {
        value.as_object().cloned().unwrap_or_default()
    }

    fn text_of(result: &CallToolResult) -> String {
        result
            .content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.clone()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn names_round_trip() {
        for tool in ToolName::ALL {
            assert_eq!(ToolName::parse(tool.as_str()), Some(tool));
        }
        assert_eq!(ToolName::parse("nope"), None);
    }

    #[test]
    fn every_tool_has_a_description_and_an_object_schema() {
        let set = ToolSet::new(&ToolName::ALL);
        assert_eq!(set.definitions().len(), ToolName::ALL.len());
        for tool in set.definitions() {
            assert!(tool.description.as_deref().is_some_and(|d| !d.is_empty()));
            assert_eq!(tool.input_schema.get("type"), Some(&json!("object")));
        }
        let search = set.definition("search_logs").expect("offered");
        assert_eq!(
            search.annotations.and_then(|a| a.read_only_hint),
            Some(true)
        );
        let health = set.definition("check_health").expect("offered");
        assert!(health.output_schema.is_some());
    }

    #[test]
    fn a_subset_offers_only_its_tools() {
        let set = ToolSet::new(&[ToolName::Echo, ToolName::Fail]);
        let names: Vec<_> = set
            .definitions()
            .iter()
            .map(|t| t.name.to_string())
            .collect();
        assert_eq!(names, ["echo", "fail"]);
        assert_eq!(set.find("echo"), Some(ToolName::Echo));
        assert_eq!(set.find("sleep"), None);
        assert!(set.definition("sleep").is_none());
    }

    #[test]
    fn search_logs_output() {
        let result = search_logs("elk-1", &args(json!({"query": "error", "limit": 2})));
        let text = text_of(&result);
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines[0], "[elk-1] search_logs query=error: 2 hits");
        assert_eq!(lines.len(), 3);
        assert!(lines[1].contains("\"error\""));
        assert_eq!(result.is_error, Some(false));

        let default = text_of(&search_logs("s", &args(json!({"query": "q"}))));
        assert!(default.starts_with("[s] search_logs query=q: 3 hits"));
        let capped = text_of(&search_logs(
            "s",
            &args(json!({"query": "q", "limit": 1000})),
        ));
        assert!(capped.starts_with("[s] search_logs query=q: 20 hits"));
    }

    #[test]
    fn query_answers_rows_naming_the_server_and_refuses_writes() {
        let result = query(
            "prod-db-replica",
            &args(json!({"sql": "SELECT 1", "limit": 2})),
        );
        let content = result.structured_content.expect("structured");
        assert_eq!(content["row_count"], 2);
        assert_eq!(content["rows"][1]["server"], "prod-db-replica");
        let write = query("db", &args(json!({"sql": "DROP TABLE orders"})));
        assert_eq!(write.is_error, Some(true));
        assert_eq!(query("db", &args(json!({}))).is_error, Some(true));
    }

    #[test]
    fn search_logs_bad_arguments_are_tool_errors() {
        for bad in [
            json!({}),
            json!({"query": 5}),
            json!({"query": "q", "limit": -1}),
            json!({"query": "q", "limit": "2"}),
        ] {
            let result = search_logs("s", &args(bad.clone()));
            assert_eq!(result.is_error, Some(true), "{bad}");
        }
    }

    #[test]
    fn sleeps_are_listed_by_tag() {
        note_sleep(Some("t-1"), false);
        note_sleep(Some("t-2"), true);
        note_sleep(None, true);
        let sleeps = sleeps_json();
        assert!(
            sleeps["started"]
                .as_array()
                .unwrap()
                .contains(&json!("t-1"))
        );
        assert_eq!(sleeps["cancelled"], json!(["t-2"]));
    }

    #[test]
    fn headers_are_lower_case_and_joined() {
        let request = http::Request::builder()
            .header("X-User-ID", "alice")
            .header("Accept", "a")
            .header("accept", "b")
            .body(())
            .expect("request");
        let (parts, ()) = request.into_parts();
        assert_eq!(
            headers_json(Some(&parts)),
            json!({"x-user-id": "alice", "accept": "a, b"})
        );
        assert_eq!(headers_json(None), json!({}));
    }
}

//! The search view (`?view=search`, SPEC §14) for clients that cap how many tools they take
//! (Cursor, Windsurf, Copilot): `tools/list` shows two tools, `search_tools` and `call_tool`,
//! over the tools the caller sees in the endpoint's scope.
//!
//! `search_tools` ranks that same list (the one `tools/list` gives in the full view, so
//! nothing invisible can be found); `call_tool` is a `tools/call` of the named tool, through
//! the same plan, authorization, limits and audit as any call. Ranking is a pure function
//! ([`rank`]) with its own tests.

use std::sync::{Arc, LazyLock};

use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool};
use serde_json::{Value, json};

use super::{Downstream, Gateway, ToolCallError};
use crate::audit::AuditRecord;
use crate::principal::RequestContext;
use crate::scope::View;

pub const SEARCH_TOOLS: &str = "search_tools";
pub const CALL_TOOL: &str = "call_tool";
/// Matches returned when the caller names no `limit`.
const DEFAULT_LIMIT: usize = 10;
/// The most one search returns.
const MAX_LIMIT: usize = 100;

/// The two tools of the search view.
pub fn view_tools() -> Vec<Tool> {
    static TOOLS: LazyLock<Vec<Tool>> = LazyLock::new(|| {
        let search = json!({
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "Words to look for in tool names and descriptions"},
                "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "description": "How many tools to return (default 10)"}
            },
            "required": ["query"]
        });
        let call = json!({
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "The tool's name, as search_tools returned it"},
                "arguments": {"type": "object", "description": "The tool's arguments, as its inputSchema describes them"}
            },
            "required": ["name"]
        });
        vec![
            Tool::new(
                SEARCH_TOOLS,
                "Find tools of this gateway by what they do. Returns matching tools with their \
                 descriptions and input schemas; call one with call_tool.",
                Arc::new(object(search)),
            ),
            Tool::new(
                CALL_TOOL,
                "Call a tool found with search_tools, by name, with its arguments.",
                Arc::new(object(call)),
            ),
        ]
    });
    TOOLS.clone()
}

fn object(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        _ => JsonObject::new(),
    }
}

impl Gateway {
    /// `tools/call` in the search view.
    pub(super) async fn call_in_search_view(
        self: &Arc<Self>,
        ctx: &RequestContext,
        name: &str,
        arguments: Option<JsonObject>,
        downstream: Downstream,
    ) -> Result<CallToolResult, ToolCallError> {
        // The tool called is called as in the full view of the same endpoint.
        let mut full = ctx.clone();
        full.endpoint.view = View::Full;
        let ctx = &full;
        let arguments = arguments.unwrap_or_default();
        match name {
            SEARCH_TOOLS => {
                let query = match arguments.get("query") {
                    Some(Value::String(query)) => query.as_str(),
                    _ => {
                        return Err(ToolCallError::InvalidParams(
                            "search_tools needs a string `query`".into(),
                        ));
                    }
                };
                let limit = match arguments.get("limit") {
                    None | Some(Value::Null) => DEFAULT_LIMIT,
                    Some(value) => match value.as_u64() {
                        Some(n) if n >= 1 => (n as usize).min(MAX_LIMIT),
                        _ => {
                            return Err(ToolCallError::InvalidParams(
                                "search_tools: `limit` must be a positive integer".into(),
                            ));
                        }
                    },
                };
                let visible = self.visible_tools(ctx, None);
                let found = rank(&visible, query, limit);
                self.audit.emit(
                    AuditRecord::list_tools(ctx, found.len(), None)
                        .with_details(json!({"count": found.len(), "query": query})),
                );
                Ok(search_result(&found))
            }
            CALL_TOOL => {
                let Some(Value::String(target)) = arguments.get("name") else {
                    return Err(ToolCallError::InvalidParams(
                        "call_tool needs a string `name`".into(),
                    ));
                };
                let inner = match arguments.get("arguments") {
                    None | Some(Value::Null) => None,
                    Some(Value::Object(map)) => Some(map.clone()),
                    Some(_) => {
                        return Err(ToolCallError::InvalidParams(
                            "call_tool: `arguments` must be an object".into(),
                        ));
                    }
                };
                self.call_tool(ctx, target, inner, downstream).await
            }
            // A tool name learnt from a search, called directly: the same call.
            other => {
                self.call_tool(ctx, other, Some(arguments), downstream)
                    .await
            }
        }
    }
}

/// The best `limit` matches of `query` among `tools`: every word of the query found in a
/// tool's name counts more than one found in its description; a tool matching no word is
/// left out; ties keep name order. An empty query lists the first tools by name.
pub fn rank<'a>(tools: &'a [Tool], query: &str, limit: usize) -> Vec<&'a Tool> {
    let words: Vec<String> = query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let mut scored: Vec<(u32, &Tool)> = tools
        .iter()
        .filter_map(|tool| {
            let name = tool.name.to_lowercase();
            let description = tool
                .description
                .as_deref()
                .unwrap_or_default()
                .to_lowercase();
            let score: u32 = words
                .iter()
                .map(|word| {
                    let in_name = if name.contains(word.as_str()) { 3 } else { 0 };
                    let in_description = u32::from(description.contains(word.as_str()));
                    in_name + in_description
                })
                .sum();
            (words.is_empty() || score > 0).then_some((score, tool))
        })
        .collect();
    scored.sort_by(|(a_score, a), (b_score, b)| b_score.cmp(a_score).then(a.name.cmp(&b.name)));
    scored
        .into_iter()
        .take(limit)
        .map(|(_, tool)| tool)
        .collect()
}

/// `search_tools`' answer: the tools as JSON, in `structuredContent` and as text.
fn search_result(found: &[&Tool]) -> CallToolResult {
    let tools: Vec<Value> = found
        .iter()
        .map(|tool| {
            json!({
                "name": tool.name,
                "description": tool.description,
                "inputSchema": tool.input_schema,
            })
        })
        .collect();
    let body = json!({ "tools": tools });
    let mut result = CallToolResult::success(vec![ContentBlock::text(body.to_string())]);
    result.structured_content = Some(body);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(name: &str, description: &str) -> Tool {
        Tool::new(
            name.to_owned(),
            description.to_owned(),
            Arc::new(JsonObject::new()),
        )
    }

    fn names(found: &[&Tool]) -> Vec<String> {
        found.iter().map(|t| t.name.to_string()).collect()
    }

    #[test]
    fn names_count_more_than_descriptions() {
        let tools = [
            tool("elk__query", "[elk] Search the logs"),
            tool("db__search_rows", "[db] Query rows"),
            tool("time__now", "[time] The time"),
        ];
        assert_eq!(
            names(&rank(&tools, "search", 10)),
            ["db__search_rows", "elk__query"]
        );
        assert_eq!(
            names(&rank(&tools, "query", 10)),
            ["elk__query", "db__search_rows"]
        );
    }

    #[test]
    fn every_word_adds_and_case_does_not_matter() {
        let tools = [
            tool("a__logs", "search"),
            tool("b__search_logs", "Search logs"),
            tool("c__other", "nothing"),
        ];
        assert_eq!(
            names(&rank(&tools, "SEARCH logs", 10)),
            ["b__search_logs", "a__logs"]
        );
    }

    #[test]
    fn limits_and_empty_queries() {
        let tools = [tool("b__x", ""), tool("a__x", ""), tool("c__x", "")];
        assert_eq!(names(&rank(&tools, "", 2)), ["a__x", "b__x"]);
        assert_eq!(names(&rank(&tools, "x", 1)), ["a__x"], "ties by name");
        assert!(rank(&tools, "zzz", 10).is_empty());
        assert!(rank(&tools, "x", 0).is_empty());
    }

    #[test]
    fn the_view_offers_its_two_tools_with_schemas() {
        let tools = view_tools();
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(names, [SEARCH_TOOLS, CALL_TOOL]);
        assert_eq!(tools[0].input_schema["required"], json!(["query"]));
        assert_eq!(tools[1].input_schema["required"], json!(["name"]));
    }
}

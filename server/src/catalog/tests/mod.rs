//! Tests of [`build`] and of the catalog's queries, driven through `rmcp` tools built with
//! its own constructors. This file holds the fixtures; each submodule one concern.

mod broadcast;
mod direct;
mod lifecycle;
mod naming;
mod order;

use std::collections::HashSet;
use std::sync::Arc;

use rmcp::model::{Icon, JsonObject, MetaObject, Tool, ToolAnnotations};
use serde_json::{Value, json};

use super::*;

fn schema(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(map) => Arc::new(map),
        _ => Arc::new(JsonObject::new()),
    }
}

fn query_schema() -> Arc<JsonObject> {
    schema(json!({"type":"object","properties":{"query":{"type":"string"}},"required":["query"]}))
}

fn tool(name: &str) -> Tool {
    Tool::new(name.to_owned(), format!("does {name}"), query_schema())
}

fn tool_without_description(name: &str) -> Tool {
    Tool::new_with_raw(name.to_owned(), None, query_schema())
}

#[derive(Clone)]
struct Server {
    name: String,
    tags: Vec<String>,
    healthy: bool,
    tools: Option<Vec<Tool>>,
}

fn server(name: &str, tools: Vec<Tool>) -> Server {
    Server {
        name: name.to_owned(),
        tags: Vec::new(),
        healthy: true,
        tools: Some(tools),
    }
}

fn tools(names: &[&str]) -> Vec<Tool> {
    names.iter().map(|name| tool(name)).collect()
}

impl Server {
    fn tagged(mut self, tags: &[&str]) -> Self {
        self.tags = tags.iter().map(|tag| (*tag).to_owned()).collect();
        self
    }
    fn down(mut self) -> Self {
        self.healthy = false;
        self
    }
    fn undiscovered(mut self) -> Self {
        self.tools = None;
        self
    }
}

fn views(servers: &[Server]) -> Vec<ServerView<'_>> {
    servers
        .iter()
        .map(|s| ServerView {
            name: &s.name,
            tags: &s.tags,
            healthy: s.healthy,
            tools: s.tools.as_deref(),
        })
        .collect()
}

fn catalog(servers: &[Server]) -> Catalog {
    build(&views(servers), DEFAULT_MAX_NAME_LEN)
}

fn catalog_max(servers: &[Server], max: usize) -> Catalog {
    build(&views(servers), max)
}

fn all_names(catalog: &Catalog) -> Vec<&str> {
    catalog.iter().map(|entry| entry.name.as_str()).collect()
}

fn listed_names(catalog: &Catalog) -> Vec<&str> {
    catalog.listed().map(|entry| entry.name.as_str()).collect()
}

fn description(entry: &ExposedTool) -> &str {
    entry.tool.description.as_deref().unwrap_or_default()
}

fn direct_target(server: &str, tool: &str) -> Target {
    Target::Direct {
        server: server.to_owned(),
        tool: tool.to_owned(),
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

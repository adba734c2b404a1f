//! The rmcp server handler of one mock server: a cheap clone over shared, immutable state,
//! since rmcp builds a handler per session (or per request when stateless).

use std::{sync::Arc, time::Duration};

use rmcp::{
    ErrorData as McpError, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, Implementation, ListToolsResult,
        PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
    },
    service::RequestContext,
};

use crate::tools::{self, CallContext, ToolSet};

/// What one mock server is.
#[derive(Debug)]
pub struct ServerSpec {
    pub name: String,
    pub version: String,
    pub tags: Vec<String>,
    pub latency: Duration,
}

#[derive(Debug)]
struct Shared {
    name: String,
    latency: Duration,
    tools: Arc<ToolSet>,
    info: ServerConfig,
    listing: ListToolsResult,
}

#[derive(Debug, Clone)]
pub struct MockServer {
    shared: Arc<Shared>,
}

impl MockServer {
    pub fn new(spec: ServerSpec, tools: Arc<ToolSet>) -> Self {
        let instructions = if spec.tags.is_empty() {
            format!("Mock MCP server {}.", spec.name)
        } else {
            format!(
                "Mock MCP server {}. Tags: {}.",
                spec.name,
                spec.tags.join(", ")
            )
        };
        let info = ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(spec.name.clone(), spec.version))
            .with_instructions(instructions);
        let listing = ListToolsResult::with_all_items(tools.definitions().to_vec());
        Self {
            shared: Arc::new(Shared {
                name: spec.name,
                latency: spec.latency,
                tools,
                info,
                listing,
            }),
        }
    }
}

impl ServerHandler for MockServer {
    fn get_info(&self) -> ServerConfig {
        self.shared.info.clone()
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(self.shared.listing.clone())
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.shared.tools.definition(name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let Some(tool) = self.shared.tools.find(&request.name) else {
            return Err(McpError::invalid_params(
                format!("Unknown tool: {}", request.name),
                None,
            ));
        };
        if !self.shared.latency.is_zero() {
            tokio::select! {
                () = tokio::time::sleep(self.shared.latency) => {}
                () = context.ct.cancelled() => {
                    return Err(McpError::internal_error("cancelled", None));
                }
            }
        }
        let arguments = request.arguments.unwrap_or_default();
        let context = CallContext {
            server_name: &self.shared.name,
            request: context,
        };
        tools::call(tool, arguments, context).await.map(Into::into)
    }
}

//! The rmcp server handler of one mock server: a cheap clone over shared, immutable state,
//! since rmcp builds a handler per session (or per request when stateless). With
//! `--prompts` it also offers one prompt and one resource.

use std::{sync::Arc, time::Duration};

use rmcp::{
    ErrorData as McpError, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, GetPromptRequestParams, GetPromptResponse,
        GetPromptResult, Implementation, ListPromptsResult, ListResourcesResult, ListToolsResult,
        PaginatedRequestParams, Prompt, PromptArgument, PromptMessage, ReadResourceRequestParams,
        ReadResourceResponse, ReadResourceResult, Resource, ResourceContents, Role,
        ServerCapabilities, ServerConfig, Tool,
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
    /// Offer [`PROMPT`] and [`RESOURCE`] too.
    pub prompts: bool,
}

/// The prompt a server started with `--prompts` offers.
pub const PROMPT: &str = "incident_summary";
/// The resource a server started with `--prompts` offers.
pub const RESOURCE: &str = "mock://runbook";

#[derive(Debug)]
struct Shared {
    name: String,
    latency: Duration,
    tools: Arc<ToolSet>,
    info: ServerConfig,
    listing: ListToolsResult,
    /// `--prompts`: a prompt and a resource are offered.
    prompts: bool,
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
        let capabilities = if spec.prompts {
            ServerCapabilities::builder()
                .enable_tools()
                .enable_prompts()
                .enable_resources()
                .build()
        } else {
            ServerCapabilities::builder().enable_tools().build()
        };
        let info = ServerConfig::new(capabilities)
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
                prompts: spec.prompts,
            }),
        }
    }
}

impl MockServer {
    /// `items` when this server offers prompts and resources, else none.
    fn offered<T>(&self, items: Vec<T>) -> Vec<T> {
        if self.shared.prompts {
            items
        } else {
            Vec::new()
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

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        let prompt = Prompt::new(
            PROMPT,
            Some("Ask for a summary of a service's incidents"),
            Some(vec![
                PromptArgument::new("service")
                    .with_description("The service")
                    .with_required(true),
            ]),
        );
        Ok(ListPromptsResult::with_all_items(
            self.offered(vec![prompt]),
        ))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        if !self.shared.prompts || request.name != PROMPT {
            return Err(McpError::invalid_params(
                format!("Unknown prompt: {}", request.name),
                None,
            ));
        }
        let service = request
            .arguments
            .as_ref()
            .and_then(|arguments| arguments.get("service"))
            .and_then(|service| service.as_str())
            .unwrap_or("every service");
        let text = format!(
            "[{}] Summarise the incidents of {service} this week.",
            self.shared.name
        );
        Ok(GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)]).into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let resource = Resource::new(RESOURCE, "runbook");
        Ok(ListResourcesResult::with_all_items(
            self.offered(vec![resource]),
        ))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        if !self.shared.prompts || request.uri != RESOURCE {
            return Err(McpError::resource_not_found(
                format!("Unknown resource: {}", request.uri),
                None,
            ));
        }
        let text = format!(
            "[{}] Runbook: restart, then check the logs.",
            self.shared.name
        );
        Ok(ReadResourceResult::new(vec![ResourceContents::text(text, RESOURCE)]).into())
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

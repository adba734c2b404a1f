//! The gateway as an MCP server: one rmcp `ServerHandler` behind every MCP transport.
//!
//! The handler is a cheap clone over the shared [`Gateway`]: rmcp builds one per session
//! (session era) or per request (2026-07-28 stateless era, legacy SSE sessions).

use std::sync::Arc;

use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock,
    Implementation, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
    ServerResult, SubscriptionFilter,
};
use rmcp::service::{NotificationContext, RequestContext, SubscriptionContext};
use rmcp::{ErrorData, RoleServer, ServerHandler};

use crate::client_requests::Requester;
use crate::gateway::{Downstream, Gateway, ToolCallError};
use crate::http::caller;
use crate::principal::{RequestContext as CallContext, Transport};
use crate::progress::{ProgressSink, ProgressTarget};

/// Narrows `tools/list` to one backend (SPEC §12 `params.server`); put in the request's
/// extensions by the HTTP layer, which sees the raw body.
#[derive(Clone, Debug)]
pub struct ListServerFilter(pub String);

#[derive(Clone)]
pub struct McpHandler {
    gateway: Arc<Gateway>,
}

impl McpHandler {
    pub fn new(gateway: Arc<Gateway>) -> Self {
        Self { gateway }
    }

    /// The caller of an MCP request, from the HTTP request rmcp hands over.
    fn caller(&self, context: &RequestContext<RoleServer>) -> CallContext {
        let parts = context.extensions.get::<http::request::Parts>();
        match parts {
            Some(parts) => caller::request_context(self.gateway.settings(), parts, Transport::Mcp),
            None => {
                // Not over HTTP (never the case in this gateway): no identity, no roles.
                let (parts, ()) = http::Request::new(()).into_parts();
                let mut ctx =
                    caller::request_context(self.gateway.settings(), &parts, Transport::Mcp);
                ctx.principal = crate::principal::Principal::anonymous(&[]);
                ctx
            }
        }
    }
}

/// The gateway's own identity and capabilities, as every client sees them.
pub fn server_config() -> ServerConfig {
    ServerConfig::new(
        ServerCapabilities::builder()
            .enable_tools()
            .enable_tool_list_changed()
            .build(),
    )
    .with_server_info(
        Implementation::new("secure-mcp-gateway", env!("CARGO_PKG_VERSION"))
            .with_title("Secure MCP Gateway"),
    )
    .with_instructions(
        "Tools of many MCP servers, named <server>__<tool>. broadcast__* tools call a tool on \
         several servers at once.",
    )
}

/// The result of a `tools/call` that reached routing, in MCP terms: unknown tools are a
/// protocol error (-32602, SPEC §13), everything else a result (`isError` on failure).
pub fn call_outcome_to_mcp(
    outcome: Result<CallToolResult, ToolCallError>,
) -> Result<CallToolResult, ErrorData> {
    match outcome {
        Ok(result) => Ok(result),
        // A denied tool is indistinguishable from an unknown one (SPEC §12).
        Err(ToolCallError::UnknownTool(name) | ToolCallError::Denied(name)) => Err(
            ErrorData::invalid_params(format!("Unknown tool: {name}"), None),
        ),
        Err(error @ (ToolCallError::InvalidParams(_) | ToolCallError::NotFound(_))) => {
            Err(ErrorData::invalid_params(error.to_string(), None))
        }
        Err(error @ (ToolCallError::Backend(_) | ToolCallError::RateLimited(_))) => Ok(
            CallToolResult::error(vec![ContentBlock::text(error.to_string())]),
        ),
    }
}

/// A `tools/call` result as a client of the session era or a plain JSON-RPC caller gets it:
/// without `resultType`, which only the 2026-07-28 revision knows (rmcp's handler strips it
/// the same way for the session-era calls it answers).
pub fn session_era_result(result: CallToolResult) -> ServerResult {
    let mut result = ServerResult::from(CallToolResponse::from(result));
    result.strip_result_type_for_legacy_peer();
    result
}

impl ServerHandler for McpHandler {
    fn get_info(&self) -> ServerConfig {
        server_config()
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        self.gateway.register_peer(context.peer);
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let server = context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<ListServerFilter>())
            .map(|f| f.0.as_str());
        let caller = self.caller(&context);
        let tools = self.gateway.list_tools(&caller, server);
        // Lists depend on the caller (authorization): never shared between callers.
        Ok(ListToolsResult::with_all_items(tools).with_cache_scope(CacheScope::Private))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let progress = context
            .meta
            .get_progress_token()
            .map(|token| ProgressTarget {
                sink: ProgressSink::Peer(context.peer.clone()),
                token,
            });
        let downstream = Downstream {
            progress,
            cancel: context.ct.clone(),
            requester: Requester::of(&context.peer, context.id.clone()),
        };
        let caller = self.caller(&context);
        let outcome = self
            .gateway
            .call_tool(&caller, &request.name, request.arguments, downstream)
            .await;
        call_outcome_to_mcp(outcome).map(CallToolResponse::from)
    }

    fn accepted_subscription_filter(
        &self,
        _requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(SubscriptionFilter::builder().tools_list_changed().build())
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let mut generation = self.gateway.catalog_generation();
        generation.mark_unchanged();
        loop {
            tokio::select! {
                _ = context.cancelled() => return Ok(()),
                changed = generation.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                    if context.sink().notify_tool_list_changed().await.is_err() {
                        return Ok(());
                    }
                }
            }
        }
    }
}

//! The gateway as an MCP server: one rmcp `ServerHandler` behind every MCP transport.
//!
//! The handler is a cheap clone over the shared [`Gateway`]: rmcp builds one per session
//! (session era) or per request (2026-07-28 stateless era, legacy SSE sessions).

use std::sync::Arc;

use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, CallToolResult, CompleteRequestParams,
    CompleteResult, ContentBlock, DiscoverResult, ErrorCode, GetPromptRequestParams,
    GetPromptResponse, Implementation, InitializeRequestParams, InitializeResult,
    ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities,
    ServerConfig, ServerResult, SubscribeRequestParams, SubscriptionFilter,
    UnsubscribeRequestParams,
};
use rmcp::service::{NotificationContext, RequestContext, SubscriptionContext};
use rmcp::{ErrorData, RoleServer, ServerHandler};

use crate::client_requests::Requester;
use crate::gateway::{Downstream, Gateway, OfferError, OfferKind, ToolCallError};
use crate::http::caller;
use crate::principal::{RequestContext as CallContext, Transport};
use crate::progress::{ProgressSink, ProgressTarget};
use crate::upstream::{NoticeKind, Offers};

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

/// The gateway's identity and capabilities as a client of one endpoint sees them: tools
/// always, prompts, resources (and their subscriptions) and completions when a backend in the
/// endpoint's scope offers them (`offers`).
pub fn server_config(offers: Offers) -> ServerConfig {
    let mut capabilities = ServerCapabilities::builder()
        .enable_tools()
        .enable_tool_list_changed()
        .build();
    if offers.prompts {
        let mut prompts = rmcp::model::PromptsCapability::default();
        prompts.list_changed = Some(true);
        capabilities.prompts = Some(prompts);
    }
    if offers.resources {
        let mut resources = rmcp::model::ResourcesCapability::default();
        resources.list_changed = Some(true);
        resources.subscribe = offers.subscribe.then_some(true);
        capabilities.resources = Some(resources);
    }
    if offers.completions {
        capabilities.completions = Some(Default::default());
    }
    ServerConfig::new(capabilities)
        .with_server_info(
            Implementation::new("secure-mcp-gateway", env!("CARGO_PKG_VERSION"))
                .with_title("Secure MCP Gateway"),
        )
        .with_instructions(
            "Tools of many MCP servers, named <server>__<tool>. broadcast__* tools call a tool on \
         several servers at once. Prompts are named <server>__<prompt>, resources \
         <server>+<uri>.",
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

/// A prompt or resource request's failure in MCP terms: an unknown (or invisible) prompt is
/// -32602 and resource -32002, as MCP servers answer; a backend's own error passes as it is.
pub fn offer_error_to_mcp(error: OfferError) -> ErrorData {
    match error {
        OfferError::Unknown {
            kind: OfferKind::Resource,
            ..
        } => ErrorData::resource_not_found(error.to_string(), None),
        OfferError::Unknown { .. } | OfferError::InvalidParams(_) => {
            ErrorData::invalid_params(error.to_string(), None)
        }
        OfferError::Refused(backend) => backend,
        OfferError::RateLimited(_) => {
            ErrorData::new(ErrorCode(RATE_LIMITED), error.to_string(), None)
        }
        OfferError::Backend(_) => ErrorData::internal_error(error.to_string(), None),
    }
}

/// The JSON-RPC error code of a rate-limited prompt or resource request (in the range left
/// to implementations).
pub const RATE_LIMITED: i32 = -32029;

/// A `tools/call` result as a client of the session era or a plain JSON-RPC caller gets it:
/// without `resultType`, which only the 2026-07-28 revision knows (rmcp's handler strips it
/// the same way for the session-era calls it answers).
pub fn session_era_result(result: CallToolResult) -> ServerResult {
    let mut result = ServerResult::from(CallToolResponse::from(result));
    result.strip_result_type_for_legacy_peer();
    result
}

/// The cursor of a list request.
fn cursor(request: Option<&PaginatedRequestParams>) -> Option<&str> {
    request.and_then(|r| r.cursor.as_deref())
}

impl ServerHandler for McpHandler {
    /// What the whole gateway offers; an endpoint's own scope narrows it where rmcp gives
    /// the request ([`Self::initialize`], [`Self::discover`]).
    fn get_info(&self) -> ServerConfig {
        server_config(self.gateway.offers_in(&crate::scope::Scope::All))
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        context.peer.set_peer_info(request.clone());
        let mut result = self.negotiate_initialize(&request)?;
        let scope = self.caller(&context).endpoint.scope;
        result.capabilities = server_config(self.gateway.offers_in(&scope)).capabilities;
        Ok(result)
    }

    async fn discover(
        &self,
        context: RequestContext<RoleServer>,
    ) -> Result<DiscoverResult, ErrorData> {
        let scope = self.caller(&context).endpoint.scope;
        Ok(DiscoverResult::from_server_info(
            self.supported_protocol_versions().into_owned(),
            server_config(self.gateway.offers_in(&scope)),
        ))
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

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let caller = self.caller(&context);
        self.gateway
            .list_prompts(&caller, cursor(request.as_ref()), &context.ct)
            .await
            .map_err(offer_error_to_mcp)
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let caller = self.caller(&context);
        self.gateway
            .get_prompt(&caller, &request.name, request.arguments, &context.ct)
            .await
            .map(GetPromptResponse::from)
            .map_err(offer_error_to_mcp)
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let caller = self.caller(&context);
        self.gateway
            .list_resources(&caller, cursor(request.as_ref()), &context.ct)
            .await
            .map_err(offer_error_to_mcp)
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let caller = self.caller(&context);
        self.gateway
            .list_resource_templates(&caller, cursor(request.as_ref()), &context.ct)
            .await
            .map_err(offer_error_to_mcp)
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let caller = self.caller(&context);
        self.gateway
            .read_resource(&caller, &request.uri, &context.ct)
            .await
            .map(ReadResourceResponse::from)
            .map_err(offer_error_to_mcp)
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        let caller = self.caller(&context);
        self.gateway
            .complete(&caller, request, &context.ct)
            .await
            .map_err(offer_error_to_mcp)
    }

    #[allow(deprecated)] // resources/subscribe: the session era's, which this serves
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let caller = self.caller(&context);
        self.gateway
            .subscribe(&caller, &request.uri, context.peer.clone())
            .await
            .map_err(offer_error_to_mcp)
    }

    #[allow(deprecated)] // as `subscribe`
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let caller = self.caller(&context);
        self.gateway
            .unsubscribe(&caller, &request.uri)
            .await
            .map_err(offer_error_to_mcp)
    }

    /// 2026-07-28 `subscriptions/listen`: list changes of tools, prompts and resources.
    /// Updates of single resources are relayed to session-era subscribers only.
    fn accepted_subscription_filter(
        &self,
        _requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(
            SubscriptionFilter::builder()
                .tools_list_changed()
                .prompts_list_changed()
                .resources_list_changed()
                .build(),
        )
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let mut generation = self.gateway.catalog_generation();
        generation.mark_unchanged();
        let mut notices = self.gateway.notices();
        let accepted = context.accepted().clone();
        loop {
            let sent = tokio::select! {
                _ = context.cancelled() => return Ok(()),
                changed = generation.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                    if accepted.tools_list_changed != Some(true) {
                        continue;
                    }
                    context.sink().notify_tool_list_changed().await
                }
                notice = notices.recv() => match notice {
                    Ok(notice) => match notice.kind {
                        NoticeKind::PromptsChanged if accepted.prompts_list_changed == Some(true) => {
                            context.sink().notify_prompt_list_changed().await
                        }
                        NoticeKind::ResourcesChanged if accepted.resources_list_changed == Some(true) => {
                            context.sink().notify_resource_list_changed().await
                        }
                        _ => continue,
                    },
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok(()),
                },
            };
            if sent.is_err() {
                return Ok(());
            }
        }
    }
}

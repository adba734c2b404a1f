//! A legacy SSE server on 127.0.0.1:0 serving a small probe handler, for the tests of this
//! transport and of the SSE client in `upstream::sse`.

use std::{sync::Arc, time::Duration};

use axum::Router;
use http::request::Parts;
use rmcp::{
    ErrorData as McpError, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
        ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
    },
    service::RequestContext,
};
use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{LegacySseConfig, router};

/// The header whose value the probe reports from the GET and from each POST.
pub(crate) const PROBE_HEADER: &str = "x-probe";

/// Waits generously for something that should happen at once; it only keeps a broken build
/// from hanging the test run.
pub(crate) const HANG_GUARD: Duration = Duration::from_secs(20);

/// Counts live probe handlers, so a test can see a session's handler go away.
#[derive(Clone)]
pub(crate) struct LiveHandlers {
    count: Arc<watch::Sender<usize>>,
}

impl LiveHandlers {
    fn new() -> Self {
        Self {
            count: Arc::new(watch::channel(0).0),
        }
    }

    fn track(&self) -> LiveGuard {
        self.count.send_modify(|count| *count += 1);
        LiveGuard {
            count: Arc::clone(&self.count),
        }
    }

    pub(crate) fn current(&self) -> usize {
        *self.count.borrow()
    }

    /// Waits until exactly `expected` handlers are alive.
    pub(crate) async fn wait_for(&self, expected: usize) {
        let mut receiver = self.count.subscribe();
        let waited =
            tokio::time::timeout(HANG_GUARD, receiver.wait_for(|count| *count == expected)).await;
        assert!(
            matches!(waited, Ok(Ok(_))),
            "expected {expected} live handlers, have {}",
            self.current()
        );
    }
}

struct LiveGuard {
    count: Arc<watch::Sender<usize>>,
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.count.send_modify(|count| *count -= 1);
    }
}

/// A handler that reports what it saw of the GET that opened its session and of each POST.
#[derive(Clone)]
pub(crate) struct ProbeHandler {
    get_parts: Arc<Parts>,
    _live: Arc<LiveGuard>,
}

fn header_of(parts: &Parts) -> Value {
    parts
        .headers
        .get(PROBE_HEADER)
        .and_then(|value| value.to_str().ok())
        .map_or(Value::Null, |value| Value::String(value.to_owned()))
}

fn query_of(parts: &Parts) -> Value {
    parts
        .uri
        .query()
        .map_or(Value::Null, |query| Value::String(query.to_owned()))
}

fn text(result: impl Into<String>) -> Result<CallToolResponse, McpError> {
    Ok(CallToolResult::success(vec![ContentBlock::text(result)]).into())
}

impl ServerHandler for ProbeHandler {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("probe", "1.0.0"))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let schema: Arc<Map<String, Value>> = Arc::new(
            json!({"type": "object"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        );
        Ok(ListToolsResult::with_all_items(vec![
            Tool::new("echo", "Echoes its arguments", Arc::clone(&schema)),
            Tool::new(
                "request_info",
                "Reports the HTTP requests",
                Arc::clone(&schema),
            ),
            Tool::new("notify", "Sends tools/list_changed", schema),
        ]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        match request.name.as_ref() {
            "echo" => text(Value::Object(request.arguments.unwrap_or_default()).to_string()),
            "request_info" => {
                let post = context.extensions.get::<Parts>();
                let info = json!({
                    "get_header": header_of(&self.get_parts),
                    "get_query": query_of(&self.get_parts),
                    "post_header": post.map_or(Value::Null, header_of),
                    "post_query": post.map_or(Value::Null, query_of),
                    "post_path": post.map_or(Value::Null, |p| Value::String(p.uri.path().to_owned())),
                });
                text(info.to_string())
            }
            "notify" => {
                context
                    .peer
                    .notify_tool_list_changed()
                    .await
                    .map_err(|error| McpError::internal_error(error.to_string(), None))?;
                text("notified")
            }
            other => Err(McpError::invalid_params(
                format!("Unknown tool: {other}"),
                None,
            )),
        }
    }
}

/// A running probe server.
pub(crate) struct ProbeServer {
    /// `http://127.0.0.1:<port>`
    pub(crate) base: String,
    /// The config's cancellation token: cancelling it ends every session.
    pub(crate) cancellation: CancellationToken,
    pub(crate) live: LiveHandlers,
}

impl ProbeServer {
    pub(crate) fn sse_url(&self) -> String {
        format!("{}/sse", self.base)
    }
}

/// Serves the probe handler with `config` (its cancellation token is replaced), the router
/// passed through `wrap` (to nest it or add layers).
pub(crate) async fn spawn_probe(
    mut config: LegacySseConfig,
    wrap: impl FnOnce(Router) -> Router,
) -> ProbeServer {
    let cancellation = CancellationToken::new();
    config.cancellation = cancellation.clone();
    let live = LiveHandlers::new();
    let make_handler = {
        let live = live.clone();
        move |parts: &Parts| ProbeHandler {
            get_parts: Arc::new(parts.clone()),
            _live: Arc::new(live.track()),
        }
    };
    let app = wrap(router(make_handler, config));
    let base = serve(app).await;
    ProbeServer {
        base,
        cancellation,
        live,
    }
}

/// Serves `app` on 127.0.0.1:0 until the test ends; gives `http://127.0.0.1:<port>`.
pub(crate) async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let address = listener.local_addr().expect("bound address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{address}")
}

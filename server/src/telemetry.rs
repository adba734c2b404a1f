//! Logging and traces.
//!
//! - Logs: `LOG_LEVEL` (an env-filter directive) and `LOG_FORMAT` (`pretty` or `json`), to
//!   stderr so that stdout stays free for audit records (`AUDIT_TO_STDOUT`). rmcp logs every
//!   notification at INFO, so it is held at WARN unless asked otherwise.
//! - Traces: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, the spans of target [`SPANS`] (a span per
//!   MCP or REST request, a child per backend call) go to an OTLP/HTTP collector, and HTTP
//!   backends get a `traceparent` header. Without it no such span is even created: the log
//!   filter leaves [`SPANS`] out, so `info_span!(target: SPANS, …)` is disabled at its call
//!   site and costs a relaxed atomic load.
//! - The spans are held, never entered: a request's span reaches its backend calls through
//!   [`crate::principal::RequestContext::span`], and a call's span reaches the HTTP request
//!   explicitly. Entering them (`.instrument()`) would wrap, and so copy, a whole future on
//!   every call.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::config::{LogFormat, TraceExport};

/// The target of the spans that are exported as traces (and never logged).
pub const SPANS: &str = "mcp_gateway::trace";

/// Flushes and stops trace export when dropped (at the end of `serve`).
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            let _ = provider.shutdown();
        }
    }
}

/// Install logging, and trace export when `traces` says so. A trace exporter that cannot be
/// built is logged and left out: the gateway serves without traces rather than not at all.
pub fn init(level: &str, format: LogFormat, traces: Option<&TraceExport>) -> Telemetry {
    let directives = if level.contains("rmcp") {
        level.to_owned()
    } else {
        format!("{level},rmcp=warn")
    };
    let logged = EnvFilter::try_new(format!("{directives},{SPANS}=off"))
        .unwrap_or_else(|_| EnvFilter::new(format!("info,rmcp=warn,{SPANS}=off")));
    let logs = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .compact()
            .with_writer(std::io::stderr)
            .boxed(),
    }
    .with_filter(logged);

    let (provider, problem) = match traces.map(tracer_provider) {
        Some(Ok(provider)) => (Some(provider), None),
        Some(Err(problem)) => (None, Some(problem)),
        None => (None, None),
    };
    let spans = provider.as_ref().map(|provider| {
        // Only the attributes set here: no source locations, thread names or busy/idle times.
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("mcp-gateway"))
            .with_location(false)
            .with_threads(false)
            .with_tracked_inactivity(false)
            .with_target(false)
            .with_filter(Targets::new().with_target(SPANS, LevelFilter::INFO))
    });
    // Already initialised (tests start several gateways in one process): keep the first.
    let _ = tracing_subscriber::registry()
        .with(logs)
        .with(spans)
        .try_init();
    if let Some(problem) = problem {
        tracing::error!("traces are off: the OTLP exporter could not be built: {problem}");
    }
    if provider.is_some() {
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
    }
    Telemetry { provider }
}

fn tracer_provider(export: &TraceExport) -> Result<SdkTracerProvider, String> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .map_err(|e| e.to_string())?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(export.service_name.clone())
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// The request's span, in its extensions, for the handlers that run its calls.
#[derive(Clone)]
struct RequestSpan(tracing::Span);

/// Whether spans are exported (a relaxed load of the call site's cached interest).
fn tracing_on() -> bool {
    tracing::enabled!(target: SPANS, tracing::Level::INFO)
}

/// The span of one MCP or REST request (disabled when traces are off), continuing the
/// caller's trace when it sent `traceparent`; kept in the request's extensions.
pub fn start_request(request: &mut axum::extract::Request) -> tracing::Span {
    if !tracing_on() {
        return tracing::Span::none();
    }
    let session = request
        .headers()
        .get(crate::http::mcp::SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let span = tracing::info_span!(
        target: SPANS,
        "request",
        otel.name = %format!("{} {}", request.method(), request.uri().path()),
        otel.kind = "server",
        http.request.method = %request.method(),
        url.path = %request.uri().path(),
        http.response.status_code = tracing::field::Empty,
        mcp.method.name = tracing::field::Empty,
        mcp.session.id = session,
        otel.status_code = tracing::field::Empty,
    );
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&opentelemetry_http::HeaderExtractor(request.headers()))
    });
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let _ = span.set_parent(parent);
    request.extensions_mut().insert(RequestSpan(span.clone()));
    span
}

/// The answer's status, on the request's span.
pub fn finish_request(span: &tracing::Span, status: http::StatusCode) {
    if span.is_disabled() {
        return;
    }
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
}

/// The span [`start_request`] put in `extensions` (disabled when there is none).
pub fn request_span(extensions: &http::Extensions) -> tracing::Span {
    if !tracing_on() {
        return tracing::Span::none();
    }
    extensions
        .get::<RequestSpan>()
        .map(|span| span.0.clone())
        .unwrap_or_else(tracing::Span::none)
}

/// The JSON-RPC method of an MCP request, on its span.
pub fn record_mcp_method(extensions: &http::Extensions, method: &str) {
    if tracing_on() {
        request_span(extensions).record("mcp.method.name", method);
    }
}

/// The span of one backend call, a child of the request's (`parent`).
pub fn backend_call_span(parent: &tracing::Span, server: &str, tool: &str) -> tracing::Span {
    if parent.is_disabled() {
        return tracing::Span::none();
    }
    tracing::info_span!(
        target: SPANS,
        parent: parent,
        "backend call",
        otel.name = %format!("tools/call {tool}"),
        otel.kind = "client",
        mcp.method.name = "tools/call",
        gen_ai.tool.name = tool,
        gen_ai.operation.name = "execute_tool",
        mcp.server = server,
        mcp.call.status = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    )
}

/// How a backend call ended, on its span: `success`, `tool_error` or the failure's kind.
pub fn finish_backend_call(
    span: &tracing::Span,
    outcome: &Result<rmcp::model::CallToolResult, crate::upstream::CallError>,
) {
    if span.is_disabled() {
        return;
    }
    let outcome = crate::metrics::outcome_of(outcome);
    let status = format!("{outcome:?}");
    span.record("mcp.call.status", status.as_str());
    if outcome != crate::metrics::Outcome::success {
        span.record("otel.status_code", "ERROR");
    }
}

/// `traceparent` (W3C trace context) naming `span`, for a request to a backend.
pub fn inject_trace_context(span: &tracing::Span, headers: &mut http::HeaderMap) {
    if span.is_disabled() {
        return;
    }
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let context = span.context();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut opentelemetry_http::HeaderInjector(headers));
    });
}

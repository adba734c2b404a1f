//! Prompts and resources of the backends in a caller's scope (SPEC §14): lists merged and
//! paged by the gateway, `prompts/get` and `resources/read` routed by name, completions
//! passed to the backend that owns the name (subscriptions: [`super::subscriptions`]).
//!
//! Names: a prompt is `<server>__<prompt>`, a resource or template `<server>+<uri>`
//! (`catalog::names`). Authorization patterns match those names as they match tool names,
//! and what a caller may not use is invisible: not listed, and "unknown" when asked for.
//! Every use goes through [`Gateway::resolve`] (name → server in scope → offered →
//! authorized), and a resource URI is checked in its canonical form, which is also what the
//! backend receives (`catalog::canonical_resource_uri`).
//!
//! Lists are read from the backends when asked (each with its own deadline; a backend that
//! fails leaves only its own entries out), not cached as tools are: backends rarely say when
//! their resources change, and a list read now is never stale. A `prompts/get` or a
//! `resources/read` past authorization leaves exactly one audit record (`prompt_get`,
//! `resource_read`), as a tool call does — written as `cancelled` when the caller cancels or
//! goes away, which also withdraws the backend request. Every request made here is counted
//! on its backend as one without a client to ask (`upstream::asks`), so that a backend
//! asking its client meanwhile is never guessed to mean another caller's call.
//!
//! A backend's answer is final whatever its era: it is passed on as `resultType: complete`,
//! which the transport strips again for session-era clients.

use std::future::Future;
use std::sync::Arc;

use rmcp::RoleClient;
use rmcp::model::{
    CacheScope, CompleteRequestParams, CompleteResult, GetPromptRequestParams, GetPromptResult,
    JsonObject, ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, Prompt,
    ReadResourceRequestParams, ReadResourceResult, Reference, Resource, ResourceContents,
    ResourceTemplate, ResultType,
};
use rmcp::service::{Peer, ServiceError};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::Gateway;
use super::calls::{Pending, call_status};
use crate::audit::{AuditEvent, AuditRecord, AuditStatus};
use crate::authz::Policy;
use crate::catalog::{
    SERVER_TOOL_SEPARATOR, canonical_resource_uri, prompt_name, resource_uri, split_resource_uri,
};
use crate::metrics::Refused;
use crate::paging::{self, BadCursor, PAGE_SIZE};
use crate::principal::RequestContext;
use crate::ratelimit::RetryAfter;
use crate::scope::Scope;
use crate::upstream::call::service_error_category;
use crate::upstream::{CallError, Offers, Upstream};

/// Why a prompt or resource request got no answer from a backend.
#[derive(Debug, thiserror::Error)]
pub enum OfferError {
    /// Not there, outside the endpoint's scope, or not visible to this caller: one answer
    /// for all three, so that a denied caller learns nothing.
    #[error("Unknown {kind}: {name}")]
    Unknown { kind: OfferKind, name: String },
    /// The request cannot be served as asked (a cursor the gateway did not make, a
    /// subscription without a session, …).
    #[error("{0}")]
    InvalidParams(String),
    #[error("rate limited: retry after {} s", .0.whole_seconds())]
    RateLimited(RetryAfter),
    /// The backend answered with a JSON-RPC error: passed on as it is.
    #[error("backend error: {}", .0.message)]
    Refused(rmcp::ErrorData),
    /// The backend gave no answer.
    #[error(transparent)]
    Backend(CallError),
}

/// What an [`OfferError::Unknown`] was about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferKind {
    Prompt,
    Resource,
}

impl std::fmt::Display for OfferKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OfferKind::Prompt => "prompt",
            OfferKind::Resource => "resource",
        })
    }
}

impl From<BadCursor> for OfferError {
    fn from(_: BadCursor) -> Self {
        OfferError::InvalidParams("Invalid params: invalid cursor".into())
    }
}

/// One backend with a session open now.
pub(super) struct Reachable {
    pub(super) upstream: Arc<Upstream>,
    pub(super) peer: Peer<RoleClient>,
    pub(super) offers: Offers,
}

/// A name located on its backend: the server and the backend's own name or (canonical) URI.
pub(super) struct Located {
    pub(super) upstream: Arc<Upstream>,
    pub(super) backend_name: String,
    /// The exposed name authorization matches: as sent, with a resource URI canonical.
    pub(super) exposed: String,
}

/// A name located and the caller allowed to use it.
pub(super) struct Resolved {
    pub(super) located: Located,
    pub(super) reachable: Result<Reachable, CallError>,
}

impl Resolved {
    fn server(&self) -> &str {
        self.located.upstream.name()
    }
}

impl Gateway {
    /// What the backends in `scope` offer besides tools (down ones as last seen): the
    /// capabilities the gateway advertises on that endpoint.
    pub fn offers_in(&self, scope: &Scope) -> Offers {
        self.pool
            .upstreams()
            .values()
            .filter(|upstream| scope.includes(upstream.config()))
            .fold(Offers::default(), |all, upstream| {
                all.union(upstream.state().offers)
            })
    }

    /// `prompts/list`: every visible prompt in the caller's scope, one page.
    pub async fn list_prompts(
        &self,
        ctx: &RequestContext,
        cursor: Option<&str>,
        cancel: &CancellationToken,
    ) -> Result<ListPromptsResult, OfferError> {
        let (page, next) = self
            .merged(
                ctx,
                cursor,
                cancel,
                |o| o.prompts,
                |peer| async move { peer.list_all_prompts().await },
            )
            .await?;
        let mut result =
            ListPromptsResult::with_all_items(page).with_cache_scope(CacheScope::Private);
        result.next_cursor = next;
        Ok(result)
    }

    /// `resources/list`: every visible resource in the caller's scope, one page.
    pub async fn list_resources(
        &self,
        ctx: &RequestContext,
        cursor: Option<&str>,
        cancel: &CancellationToken,
    ) -> Result<ListResourcesResult, OfferError> {
        let (page, next) = self
            .merged(
                ctx,
                cursor,
                cancel,
                |o| o.resources,
                |peer| async move { peer.list_all_resources().await },
            )
            .await?;
        let mut result =
            ListResourcesResult::with_all_items(page).with_cache_scope(CacheScope::Private);
        result.next_cursor = next;
        Ok(result)
    }

    /// `resources/templates/list`: every visible template in the caller's scope, one page.
    pub async fn list_resource_templates(
        &self,
        ctx: &RequestContext,
        cursor: Option<&str>,
        cancel: &CancellationToken,
    ) -> Result<ListResourceTemplatesResult, OfferError> {
        let (page, next) = self
            .merged(
                ctx,
                cursor,
                cancel,
                |o| o.resources,
                |peer| async move { peer.list_all_resource_templates().await },
            )
            .await?;
        let mut result =
            ListResourceTemplatesResult::with_all_items(page).with_cache_scope(CacheScope::Private);
        result.next_cursor = next;
        Ok(result)
    }

    /// The page after `cursor` of the backends' lists merged: every item in the caller's
    /// scope, by its exposed name, that the caller may see.
    async fn merged<T, F, Fut>(
        &self,
        ctx: &RequestContext,
        cursor: Option<&str>,
        cancel: &CancellationToken,
        wants: fn(Offers) -> bool,
        list: F,
    ) -> Result<(Vec<T>, Option<String>), OfferError>
    where
        T: Listed,
        F: Fn(Peer<RoleClient>) -> Fut,
        Fut: Future<Output = Result<Vec<T>, ServiceError>>,
    {
        let lists = self.gather(ctx, cancel, wants, list).await;
        let policy = &self.snapshot.load().policy;
        let items: Vec<T> = lists
            .into_iter()
            .flat_map(|(server, items)| {
                items.into_iter().map(move |mut item| {
                    item.expose(&server);
                    item
                })
            })
            .filter(|item| visible(policy, ctx, item.key()))
            .collect();
        Ok(paging::page(items, T::key, cursor, PAGE_SIZE)?)
    }

    /// `prompts/get` of an exposed prompt name; one `prompt_get` record once authorized.
    pub async fn get_prompt(
        &self,
        ctx: &RequestContext,
        name: &str,
        arguments: Option<JsonObject>,
        cancel: &CancellationToken,
    ) -> Result<GetPromptResult, OfferError> {
        let parameters = arguments.clone().map(Value::Object);
        let resolved = self.admit_use(ctx, OfferKind::Prompt, name, parameters.as_ref())?;
        let record = self.use_record(ctx, AuditEvent::PromptGet, &resolved, parameters.as_ref());
        let outcome = match resolved.reachable {
            Ok(backend) => {
                let mut request = GetPromptRequestParams::new(resolved.located.backend_name);
                request.arguments = arguments;
                ask(&backend, cancel, backend.peer.get_prompt(request))
                    .await
                    .map(|mut result| {
                        result.result_type = Some(ResultType::COMPLETE);
                        result
                    })
            }
            Err(unavailable) => Err(OfferError::Backend(unavailable)),
        };
        finish(record, &outcome);
        outcome
    }

    /// `resources/read` of an exposed URI; one `resource_read` record once authorized. The
    /// contents carry exposed URIs too.
    pub async fn read_resource(
        &self,
        ctx: &RequestContext,
        uri: &str,
        cancel: &CancellationToken,
    ) -> Result<ReadResourceResult, OfferError> {
        let resolved = self.admit_use(ctx, OfferKind::Resource, uri, None)?;
        let record = self.use_record(ctx, AuditEvent::ResourceRead, &resolved, None);
        let server = resolved.server().to_owned();
        let outcome = match resolved.reachable {
            Ok(backend) => {
                let request = ReadResourceRequestParams::new(resolved.located.backend_name);
                ask(&backend, cancel, backend.peer.read_resource(request))
                    .await
                    .map(|mut result| {
                        for contents in &mut result.contents {
                            expose_contents_uri(&server, contents);
                        }
                        result.result_type = Some(ResultType::COMPLETE);
                        result
                    })
            }
            Err(unavailable) => Err(OfferError::Backend(unavailable)),
        };
        finish(record, &outcome);
        outcome
    }

    /// `completion/complete` for a visible prompt or resource template: asked of its backend
    /// (no suggestions when the backend offers no completions).
    pub async fn complete(
        &self,
        ctx: &RequestContext,
        mut params: CompleteRequestParams,
        cancel: &CancellationToken,
    ) -> Result<CompleteResult, OfferError> {
        let (kind, exposed) = match &params.r#ref {
            Reference::Prompt(prompt) => (OfferKind::Prompt, prompt.name.clone()),
            Reference::Resource(resource) => (OfferKind::Resource, resource.uri.clone()),
            _ => {
                return Err(OfferError::InvalidParams(
                    "Invalid params: unknown completion reference".into(),
                ));
            }
        };
        let resolved = self.resolve(ctx, kind, &exposed)?;
        let backend = resolved.reachable.map_err(OfferError::Backend)?;
        if !backend.offers.completions {
            return Ok(CompleteResult::default());
        }
        match &mut params.r#ref {
            Reference::Prompt(prompt) => prompt.name = resolved.located.backend_name,
            Reference::Resource(resource) => resource.uri = resolved.located.backend_name,
            _ => {}
        }
        let mut result = ask(&backend, cancel, backend.peer.complete(params)).await?;
        result.result_type = Some(ResultType::COMPLETE);
        Ok(result)
    }

    /// The backend and its own name of an exposed prompt name or resource URI, whatever
    /// the caller's scope or rights; `None` when no running backend is named, or the name
    /// could be read as more than one (a server named `a_` beside `a`: `a___x`).
    pub(super) fn locate(&self, kind: OfferKind, exposed: &str) -> Option<Located> {
        match kind {
            OfferKind::Prompt => {
                let mut found =
                    exposed
                        .match_indices(SERVER_TOOL_SEPARATOR)
                        .filter_map(|(at, separator)| {
                            let prompt = &exposed[at + separator.len()..];
                            let upstream = self.pool.get(&exposed[..at])?;
                            (!prompt.is_empty()).then(|| (upstream, prompt.to_owned()))
                        });
                let (upstream, backend_name) = found.next()?;
                if found.next().is_some() {
                    return None;
                }
                Some(Located {
                    upstream,
                    backend_name,
                    exposed: exposed.to_owned(),
                })
            }
            OfferKind::Resource => {
                let (server, uri) = split_resource_uri(exposed)?;
                let canonical = canonical_resource_uri(uri)?;
                Some(Located {
                    upstream: self.pool.get(server)?,
                    exposed: resource_uri(server, &canonical),
                    backend_name: canonical,
                })
            }
        }
    }

    /// The backend of an exposed name in the caller's scope, if the caller may use it.
    pub(super) fn resolve(
        &self,
        ctx: &RequestContext,
        kind: OfferKind,
        exposed: &str,
    ) -> Result<Resolved, OfferError> {
        let unknown = || OfferError::Unknown {
            kind,
            name: exposed.to_owned(),
        };
        let located = self
            .locate(kind, exposed)
            .filter(|located| ctx.endpoint.scope.includes(located.upstream.config()))
            .ok_or_else(unknown)?;
        let state = located.upstream.state();
        let offered = match kind {
            OfferKind::Prompt => state.offers.prompts,
            OfferKind::Resource => state.offers.resources,
        };
        if !offered || !visible(&self.snapshot.load().policy, ctx, &located.exposed) {
            return Err(unknown());
        }
        let reachable = reachable(&located.upstream).ok_or(CallError::Unavailable);
        Ok(Resolved { located, reachable })
    }

    /// [`Self::resolve`] for a use that is audited: a denial or a rate limit leaves its
    /// record, as for tools (an unknown name leaves none).
    fn admit_use(
        &self,
        ctx: &RequestContext,
        kind: OfferKind,
        exposed: &str,
        parameters: Option<&Value>,
    ) -> Result<Resolved, OfferError> {
        let resolved = match self.resolve(ctx, kind, exposed) {
            Ok(resolved) => resolved,
            Err(error) => {
                // Denied: it exists in the caller's scope, and the policy says no.
                if let Some(located) = self.locate(kind, exposed)
                    && ctx.endpoint.scope.includes(located.upstream.config())
                    && !visible(&self.snapshot.load().policy, ctx, &located.exposed)
                {
                    self.metrics.record_refused(Refused::denied);
                    self.audit.emit(AuditRecord::access_denied(
                        ctx,
                        &located.exposed,
                        parameters,
                    ));
                }
                return Err(error);
            }
        };
        let exposed = &resolved.located.exposed;
        if let Err(retry) = self
            .snapshot
            .load()
            .limiter
            .charge_target(&ctx.principal.user, exposed)
        {
            self.metrics.record_refused(Refused::rate_limited);
            self.audit
                .emit(AuditRecord::rate_limited(ctx, exposed, parameters, retry.0));
            return Err(OfferError::RateLimited(retry));
        }
        Ok(resolved)
    }

    /// The record of an admitted use, written when it ends (or is dropped).
    fn use_record(
        &self,
        ctx: &RequestContext,
        event: AuditEvent,
        resolved: &Resolved,
        parameters: Option<&Value>,
    ) -> Pending {
        Pending::new(
            self.audit.clone(),
            AuditRecord::backend_request(
                ctx,
                event,
                &resolved.located.exposed,
                resolved.server(),
                &resolved.located.backend_name,
                parameters,
            ),
        )
    }

    /// Ask every reachable backend in scope that offers something (`wants`) for its list,
    /// concurrently; a backend that fails is left out (and logged).
    async fn gather<T, F, Fut>(
        &self,
        ctx: &RequestContext,
        cancel: &CancellationToken,
        wants: fn(Offers) -> bool,
        list: F,
    ) -> Vec<(String, Vec<T>)>
    where
        F: Fn(Peer<RoleClient>) -> Fut,
        Fut: Future<Output = Result<Vec<T>, ServiceError>>,
    {
        let reachable: Vec<Reachable> = self
            .pool
            .upstreams()
            .values()
            .filter(|upstream| ctx.endpoint.scope.includes(upstream.config()))
            .filter_map(reachable)
            .filter(|backend| wants(backend.offers))
            .collect();
        let asked = reachable.iter().map(|backend| async {
            let name = backend.upstream.name().to_owned();
            match ask(backend, cancel, list(backend.peer.clone())).await {
                Ok(items) => Some((name, items)),
                Err(error) => {
                    tracing::warn!(server = %name, %error, "listing a backend failed; its entries are left out");
                    None
                }
            }
        });
        futures::future::join_all(asked)
            .await
            .into_iter()
            .flatten()
            .collect()
    }
}

/// The backend of `upstream` if it has a session open now.
pub(super) fn reachable(upstream: &Arc<Upstream>) -> Option<Reachable> {
    let state = upstream.state();
    let live = state.live.as_ref()?;
    Some(Reachable {
        upstream: Arc::clone(upstream),
        peer: live.peer.clone(),
        offers: state.offers,
    })
}

/// May this caller see and use the prompt or resource `exposed`?
fn visible(policy: &Policy, ctx: &RequestContext, exposed: &str) -> bool {
    policy.may_call(&ctx.principal, exposed)
}

/// One request to a backend, within the server's `timeout`, withdrawn when `cancel` fires
/// (the request future is dropped: rmcp tells the backend).
pub(super) async fn ask<T>(
    backend: &Reachable,
    cancel: &CancellationToken,
    request: impl Future<Output = Result<T, ServiceError>>,
) -> Result<T, OfferError> {
    // Counted before it is sent: see the module docs.
    let _in_flight = backend.upstream.request_without_client();
    let timeout = backend.upstream.config().timeout;
    tokio::select! {
        answer = tokio::time::timeout(timeout, request) => match answer {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(ServiceError::McpError(error))) => Err(OfferError::Refused(error)),
            Ok(Err(error)) => Err(OfferError::Backend(CallError::Transport(
                service_error_category(&error),
            ))),
            Err(_) => Err(OfferError::Backend(CallError::Timeout(timeout))),
        },
        () = cancel.cancelled() => Err(OfferError::Backend(CallError::Cancelled)),
    }
}

/// Write a use's record as its outcome makes it.
fn finish<T>(record: Pending, outcome: &Result<T, OfferError>) {
    let elapsed = record.started.elapsed();
    record.finish(|record| {
        let status = match outcome {
            Ok(_) => AuditStatus::Success,
            Err(OfferError::Backend(error)) => call_status(error),
            Err(_) => AuditStatus::Error,
        };
        let error = outcome.as_ref().err().map(ToString::to_string);
        record.finished(status, elapsed, error)
    });
}

/// An item of a backend's list, as the merged list shows it.
trait Listed {
    /// Make it the caller's: its exposed name, and its server said where it helps.
    fn expose(&mut self, server: &str);
    /// Its exposed name: what authorization matches and the list is sorted by.
    fn key(&self) -> &str;
}

impl Listed for Prompt {
    fn expose(&mut self, server: &str) {
        self.name = prompt_name(server, &self.name);
        self.description = Some(described(server, self.description.take()));
    }
    fn key(&self) -> &str {
        &self.name
    }
}

impl Listed for Resource {
    fn expose(&mut self, server: &str) {
        self.uri = resource_uri(server, &self.uri);
    }
    fn key(&self) -> &str {
        &self.uri
    }
}

impl Listed for ResourceTemplate {
    fn expose(&mut self, server: &str) {
        self.uri_template = resource_uri(server, &self.uri_template);
    }
    fn key(&self) -> &str {
        &self.uri_template
    }
}

/// A backend description, prefixed with its server as tool descriptions are.
fn described(server: &str, description: Option<String>) -> String {
    match description {
        Some(text) if !text.is_empty() => format!("[{server}] {text}"),
        _ => format!("[{server}]"),
    }
}

/// A read result's URI as the caller knows it.
fn expose_contents_uri(server: &str, contents: &mut ResourceContents) {
    if let ResourceContents::TextResourceContents { uri, .. }
    | ResourceContents::BlobResourceContents { uri, .. } = contents
    {
        *uri = resource_uri(server, uri);
    }
}

//! Prompts and resources of the backends in a caller's scope (SPEC §14): lists merged and
//! paged by the gateway, `prompts/get` and `resources/read` routed by name, completions and
//! resource subscriptions passed to the backend that owns the name.
//!
//! Names: a prompt is `<server>__<prompt>`, a resource or template `<server>+<uri>`
//! (`catalog::names`). Authorization patterns match those names as they match tool names,
//! and what a caller may not use is invisible: not listed, and "unknown" when asked for.
//!
//! Lists are read from the backends when asked (each with its own deadline; a backend that
//! fails leaves only its own entries out), not cached as tools are: backends rarely say when
//! their resources change, and a list read now is never stale. A `prompts/get` or a
//! `resources/read` past authorization leaves exactly one audit record (`prompt_get`,
//! `resource_read`), as a tool call does — written as `cancelled` when the caller goes away.
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
    ResourceTemplate, ResultType, SubscribeRequestParams, UnsubscribeRequestParams,
};
use rmcp::service::{Peer, ServiceError};
use serde_json::Value;

use super::Gateway;
use super::calls::{Pending, call_status};
use crate::audit::{AuditEvent, AuditRecord, AuditStatus};
use crate::catalog::{prompt_name, resource_uri, split_prompt_name, split_resource_uri};
use crate::config::ServerConfig;
use crate::metrics::Refused;
use crate::paging::{self, BadCursor, PAGE_SIZE};
use crate::principal::RequestContext;
use crate::ratelimit::RetryAfter;
use crate::scope::Scope;
use crate::upstream::call::service_error_category;
use crate::upstream::{CallError, Offers};

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

/// One backend in scope with a session open now.
struct Reachable {
    server: Arc<ServerConfig>,
    peer: Peer<RoleClient>,
    offers: Offers,
}

/// A name resolved to its backend, the caller allowed to use it.
struct Resolved {
    reachable: Result<Reachable, CallError>,
    server: String,
    backend_name: String,
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
    ) -> Result<ListPromptsResult, OfferError> {
        let lists = self
            .gather(
                ctx,
                |o| o.prompts,
                |peer| async move { peer.list_all_prompts().await },
            )
            .await;
        let prompts: Vec<Prompt> = lists
            .into_iter()
            .flat_map(|(server, prompts)| {
                prompts.into_iter().map(move |mut prompt| {
                    prompt.name = prompt_name(&server, &prompt.name);
                    prompt.description = Some(described(&server, prompt.description.take()));
                    prompt
                })
            })
            .filter(|prompt| self.may_use(ctx, &prompt.name))
            .collect();
        let (page, next) = paging::page(prompts, |p| p.name.as_str(), cursor, PAGE_SIZE)?;
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
    ) -> Result<ListResourcesResult, OfferError> {
        let lists = self
            .gather(
                ctx,
                |o| o.resources,
                |peer| async move { peer.list_all_resources().await },
            )
            .await;
        let resources: Vec<Resource> = lists
            .into_iter()
            .flat_map(|(server, resources)| {
                resources.into_iter().map(move |mut resource| {
                    resource.uri = resource_uri(&server, &resource.uri);
                    resource
                })
            })
            .filter(|resource| self.may_use(ctx, &resource.uri))
            .collect();
        let (page, next) = paging::page(resources, |r| r.uri.as_str(), cursor, PAGE_SIZE)?;
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
    ) -> Result<ListResourceTemplatesResult, OfferError> {
        let lists = self
            .gather(
                ctx,
                |o| o.resources,
                |peer| async move { peer.list_all_resource_templates().await },
            )
            .await;
        let templates: Vec<ResourceTemplate> = lists
            .into_iter()
            .flat_map(|(server, templates)| {
                templates.into_iter().map(move |mut template| {
                    template.uri_template = resource_uri(&server, &template.uri_template);
                    template
                })
            })
            .filter(|template| self.may_use(ctx, &template.uri_template))
            .collect();
        let (page, next) = paging::page(templates, |t| t.uri_template.as_str(), cursor, PAGE_SIZE)?;
        let mut result =
            ListResourceTemplatesResult::with_all_items(page).with_cache_scope(CacheScope::Private);
        result.next_cursor = next;
        Ok(result)
    }

    /// `prompts/get` of an exposed prompt name; one `prompt_get` record once authorized.
    pub async fn get_prompt(
        &self,
        ctx: &RequestContext,
        name: &str,
        arguments: Option<JsonObject>,
    ) -> Result<GetPromptResult, OfferError> {
        let parameters = arguments.clone().map(Value::Object);
        let resolved = self.admit_use(ctx, OfferKind::Prompt, name, parameters.as_ref())?;
        let record = Pending::new(
            self.audit.clone(),
            AuditRecord::backend_request(
                ctx,
                AuditEvent::PromptGet,
                name,
                &resolved.server,
                &resolved.backend_name,
                parameters.as_ref(),
            ),
        );
        let outcome = match resolved.reachable {
            Ok(backend) => {
                let mut request = GetPromptRequestParams::new(resolved.backend_name);
                request.arguments = arguments;
                ask(&backend.server, backend.peer.get_prompt(request))
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
    ) -> Result<ReadResourceResult, OfferError> {
        let resolved = self.admit_use(ctx, OfferKind::Resource, uri, None)?;
        let record = Pending::new(
            self.audit.clone(),
            AuditRecord::backend_request(
                ctx,
                AuditEvent::ResourceRead,
                uri,
                &resolved.server,
                &resolved.backend_name,
                None,
            ),
        );
        let outcome = match resolved.reachable {
            Ok(backend) => {
                let request = ReadResourceRequestParams::new(resolved.backend_name);
                ask(&backend.server, backend.peer.read_resource(request))
                    .await
                    .map(|mut result| {
                        for contents in &mut result.contents {
                            expose_contents_uri(&resolved.server, contents);
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
            Reference::Prompt(prompt) => prompt.name = resolved.backend_name,
            Reference::Resource(resource) => resource.uri = resolved.backend_name,
            _ => {}
        }
        let mut result = ask(&backend.server, backend.peer.complete(params)).await?;
        result.result_type = Some(ResultType::COMPLETE);
        Ok(result)
    }

    /// `resources/subscribe` for the session of `ctx`: the backend is subscribed once
    /// whatever the number of downstream subscribers, and its updates are relayed to each.
    pub async fn subscribe(
        &self,
        ctx: &RequestContext,
        uri: &str,
        peer: Peer<rmcp::RoleServer>,
    ) -> Result<(), OfferError> {
        let resolved = self.resolve(ctx, OfferKind::Resource, uri)?;
        let Some(session) = ctx.session_id.clone() else {
            return Err(OfferError::InvalidParams(
                "Invalid params: subscriptions need an MCP session".into(),
            ));
        };
        let backend = resolved.reachable.map_err(OfferError::Backend)?;
        if !backend.offers.subscribe {
            return Err(OfferError::InvalidParams(format!(
                "Invalid params: server {} does not offer resource subscriptions",
                resolved.server
            )));
        }
        let first =
            self.subscriptions
                .add(&resolved.server, &resolved.backend_name, &session, peer);
        if first
            && let Err(error) = backend_subscribe(&backend, resolved.backend_name.clone()).await
        {
            self.subscriptions
                .remove(&resolved.server, &resolved.backend_name, &session);
            return Err(error);
        }
        Ok(())
    }

    /// `resources/unsubscribe`: the backend is unsubscribed when no session is left.
    pub async fn unsubscribe(&self, ctx: &RequestContext, uri: &str) -> Result<(), OfferError> {
        let resolved = self.resolve(ctx, OfferKind::Resource, uri)?;
        let Some(session) = ctx.session_id.as_deref() else {
            return Ok(());
        };
        let last = self
            .subscriptions
            .remove(&resolved.server, &resolved.backend_name, session);
        if last && let Ok(backend) = resolved.reachable {
            // The caller is unsubscribed whatever the backend says.
            if let Err(error) = backend_unsubscribe(&backend, resolved.backend_name).await {
                tracing::warn!(server = %resolved.server, %error, "resources/unsubscribe failed");
            }
        }
        Ok(())
    }

    /// Unsubscribe the backend from `uri`, in the background: no session wants its updates.
    pub(super) fn unsubscribe_backend(&self, server: &str, uri: String) {
        let Some(backend) = self.reachable(server) else {
            return;
        };
        tokio::spawn(async move {
            let _ = backend_unsubscribe(&backend, uri).await;
        });
    }

    /// Subscribe a backend that just (re)connected to what sessions are subscribed to: its
    /// new session knows nothing of the old one's subscriptions.
    pub(super) fn resubscribe(&self, server: &str) {
        let uris = self.subscriptions.uris_of(server);
        if uris.is_empty() {
            return;
        }
        let Some(backend) = self.reachable(server).filter(|b| b.offers.subscribe) else {
            return;
        };
        tokio::spawn(async move {
            for uri in uris {
                if let Err(error) = backend_subscribe(&backend, uri).await {
                    tracing::warn!(server = %backend.server.name, %error, "subscribing again failed");
                }
            }
        });
    }

    /// The backend `server` if it has a session open now.
    fn reachable(&self, server: &str) -> Option<Reachable> {
        let upstream = self.pool.get(server)?;
        let state = upstream.state();
        let live = state.live.as_ref()?;
        Some(Reachable {
            server: Arc::clone(upstream.config()),
            peer: live.peer.clone(),
            offers: state.offers,
        })
    }

    /// May this caller see and use the prompt or resource `exposed`?
    fn may_use(&self, ctx: &RequestContext, exposed: &str) -> bool {
        self.snapshot
            .load()
            .policy
            .may_call(&ctx.principal, exposed)
    }

    /// The backend of an exposed name in the caller's scope, if the caller may use it.
    fn resolve(
        &self,
        ctx: &RequestContext,
        kind: OfferKind,
        exposed: &str,
    ) -> Result<Resolved, OfferError> {
        let unknown = || OfferError::Unknown {
            kind,
            name: exposed.to_owned(),
        };
        let split = match kind {
            OfferKind::Prompt => split_prompt_name(exposed),
            OfferKind::Resource => split_resource_uri(exposed),
        };
        let (server, backend_name) = split.ok_or_else(unknown)?;
        let upstream = self
            .pool
            .get(server)
            .filter(|upstream| ctx.endpoint.scope.includes(upstream.config()))
            .ok_or_else(unknown)?;
        let state = upstream.state();
        let offered = match kind {
            OfferKind::Prompt => state.offers.prompts,
            OfferKind::Resource => state.offers.resources,
        };
        if !offered || !self.may_use(ctx, exposed) {
            return Err(unknown());
        }
        let reachable = match &state.live {
            Some(live) => Ok(Reachable {
                server: Arc::clone(upstream.config()),
                peer: live.peer.clone(),
                offers: state.offers,
            }),
            None => Err(CallError::Unavailable),
        };
        Ok(Resolved {
            reachable,
            server: server.to_owned(),
            backend_name: backend_name.to_owned(),
        })
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
                let denied = split_name(kind, exposed)
                    .and_then(|(server, _)| self.pool.get(server))
                    .is_some_and(|upstream| ctx.endpoint.scope.includes(upstream.config()))
                    && !self.may_use(ctx, exposed);
                if denied {
                    self.metrics.record_refused(Refused::denied);
                    self.audit
                        .emit(AuditRecord::access_denied(ctx, exposed, parameters));
                }
                return Err(error);
            }
        };
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

    /// Ask every reachable backend in scope that offers something (`wants`) for its list,
    /// concurrently; a backend that fails is left out (and logged).
    async fn gather<T, F, Fut>(
        &self,
        ctx: &RequestContext,
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
            .filter_map(|upstream| self.reachable(upstream.name()))
            .filter(|backend| wants(backend.offers))
            .collect();
        let asked = reachable.iter().map(|backend| async {
            let name = backend.server.name.clone();
            match ask(&backend.server, list(backend.peer.clone())).await {
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

fn split_name(kind: OfferKind, exposed: &str) -> Option<(&str, &str)> {
    match kind {
        OfferKind::Prompt => split_prompt_name(exposed),
        OfferKind::Resource => split_resource_uri(exposed),
    }
}

// `resources/subscribe` is how session-era backends are subscribed; a backend of the
// 2026-07-28 era is never offered it (see `Offers::of`), so the deprecation does not apply.
#[allow(deprecated)]
async fn backend_subscribe(backend: &Reachable, uri: String) -> Result<(), OfferError> {
    ask(
        &backend.server,
        backend.peer.subscribe(SubscribeRequestParams::new(uri)),
    )
    .await
}

#[allow(deprecated)]
async fn backend_unsubscribe(backend: &Reachable, uri: String) -> Result<(), OfferError> {
    ask(
        &backend.server,
        backend.peer.unsubscribe(UnsubscribeRequestParams::new(uri)),
    )
    .await
}

/// One request to a backend, within the server's `timeout`.
async fn ask<T>(
    server: &ServerConfig,
    request: impl Future<Output = Result<T, ServiceError>>,
) -> Result<T, OfferError> {
    match tokio::time::timeout(server.timeout, request).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(ServiceError::McpError(error))) => Err(OfferError::Refused(error)),
        Ok(Err(error)) => Err(OfferError::Backend(CallError::Transport(
            service_error_category(&error),
        ))),
        Err(_) => Err(OfferError::Backend(CallError::Timeout(server.timeout))),
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

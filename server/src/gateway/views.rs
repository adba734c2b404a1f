//! What a caller may see: tools, servers and their tools, narrowed by authorization.
//!
//! Denied things are invisible (SPEC §13): a tool the caller may not call is not listed, a
//! broadcast lists only the targets the caller may reach, and callers without `admin` see
//! only servers where they may call at least one tool.

use std::sync::Arc;

use rmcp::model::Tool;

use super::{Gateway, ServerSummary, search};
use crate::audit::AuditRecord;
use crate::catalog::{Catalog, ExposedTool, direct_full_name};
use crate::principal::RequestContext;
use crate::scope::{Scope, View};
use crate::upstream::BackendInfo;

impl Gateway {
    /// `tools/list`: in the full view, the tools of the caller's scope it may call,
    /// optionally narrowed to one backend server; in the search view, its two tools.
    pub fn list_tools(&self, ctx: &RequestContext, server: Option<&str>) -> Vec<Tool> {
        let tools = match ctx.endpoint.view {
            View::Full => self.visible_tools(ctx, server),
            View::Search => search::view_tools(),
        };
        self.audit
            .emit(AuditRecord::list_tools(ctx, tools.len(), server));
        tools
    }

    /// The tools of the caller's scope it may call, optionally of one backend server.
    pub(super) fn visible_tools(&self, ctx: &RequestContext, server: Option<&str>) -> Vec<Tool> {
        let catalog = self.catalog_for(&ctx.endpoint.scope);
        let entries: Box<dyn Iterator<Item = &ExposedTool>> = match server {
            Some(server) => Box::new(catalog.listed_for_server(server)),
            None => Box::new(catalog.listed()),
        };
        entries
            .filter_map(|entry| self.visible_tool(ctx, &catalog, entry))
            .map(|tool| (*tool).clone())
            .collect()
    }

    /// The entry as this caller sees it, or `None` when it may not call it at all.
    fn visible_tool(
        &self,
        ctx: &RequestContext,
        catalog: &Catalog,
        entry: &ExposedTool,
    ) -> Option<Arc<Tool>> {
        let snapshot = self.snapshot.load();
        let policy = &snapshot.policy;
        if policy.is_allow_all() {
            return Some(Arc::clone(&entry.tool));
        }
        if entry.target.is_broadcast()
            && !policy.may_call(&ctx.principal, &entry.target.full_name())
        {
            return None;
        }
        catalog.tool_for_caller(entry, |server, tool| {
            policy.may_call(&ctx.principal, &direct_full_name(server, tool))
        })
    }

    /// May this caller call `tool` of `server`?
    pub fn may_call_backend_tool(&self, ctx: &RequestContext, server: &str, tool: &str) -> bool {
        self.snapshot
            .load()
            .policy
            .may_call(&ctx.principal, &direct_full_name(server, tool))
    }

    /// Whether this caller may see `server` at all: admins see every server, others those
    /// where they may call at least one tool (SPEC §13).
    pub fn may_see_server(&self, ctx: &RequestContext, server: &str) -> bool {
        if ctx.principal.is_admin() || self.snapshot.load().policy.is_allow_all() {
            return true;
        }
        self.pool.get(server).is_some_and(|upstream| {
            upstream.state().tools.as_deref().is_some_and(|tools| {
                tools
                    .iter()
                    .any(|t| self.may_call_backend_tool(ctx, server, &t.name))
            })
        })
    }

    /// Whether this caller may use an endpoint of `scope`: the config names a server in it
    /// that the caller may see ([`Self::may_see_server`]).
    pub fn may_see_scope(&self, ctx: &RequestContext, scope: &Scope) -> bool {
        self.config()
            .servers
            .iter()
            .filter(|server| scope.includes(server))
            .any(|server| self.may_see_server(ctx, &server.name))
    }

    /// Every configured server this caller may see, disabled ones too (SPEC §12), sorted by
    /// name.
    pub fn servers(&self, ctx: &RequestContext) -> Vec<ServerSummary> {
        let config = self.config();
        config
            .servers
            .iter()
            .filter(|server| self.may_see_server(ctx, &server.name))
            .map(|server| {
                let state = self.pool.get(&server.name).map(|u| u.state());
                let tool_count =
                    state
                        .as_ref()
                        .and_then(|s| s.tools.as_deref())
                        .map_or(0, |tools| {
                            tools
                                .iter()
                                .filter(|t| self.may_call_backend_tool(ctx, &server.name, &t.name))
                                .count()
                        });
                ServerSummary {
                    name: server.name.clone(),
                    kind: server.transport_type(),
                    description: server.description.clone(),
                    tags: server.tags.clone(),
                    enabled: server.enabled,
                    healthy: state.as_ref().is_some_and(|s| s.healthy()),
                    tool_count,
                    last_error: state.and_then(|s| s.last_error.clone()),
                }
            })
            .collect()
    }

    /// A backend's own tools this caller may call (backend names) and its handshake info;
    /// `None` when the server is not configured or not visible to this caller.
    pub fn backend_tools(
        &self,
        ctx: &RequestContext,
        server: &str,
    ) -> Option<(Vec<Tool>, Option<BackendInfo>)> {
        self.config().server(server)?;
        if !self.may_see_server(ctx, server) {
            return None;
        }
        match self.pool.get(server) {
            Some(upstream) => {
                let state = upstream.state();
                let tools = state
                    .tools
                    .as_deref()
                    .unwrap_or_default()
                    .iter()
                    .filter(|t| self.may_call_backend_tool(ctx, server, &t.name))
                    .cloned()
                    .collect();
                Some((tools, state.info.clone()))
            }
            None => Some((Vec::new(), None)),
        }
    }
}

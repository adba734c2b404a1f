//! The exposed tool catalog: `<server>__<tool>` names and synthesized broadcast tools.
//!
//! [`build`] turns what the gateway knows about its enabled backends right now (a
//! [`ServerView`] each) into a [`Catalog`]: every exposed name, what it targets, whether
//! `tools/list` shows it, and the `rmcp` [`Tool`] it is listed as. The catalog is rebuilt on
//! every health change and reload and read on every request, so building is a pure function
//! of its inputs (no I/O, no clock, no global state) and every lookup is a hash-map probe.
//!
//! What is in it (SPEC §5, §12, §13):
//! - a direct tool `<server>__<tool>` for every tool of every server whose tools were ever
//!   discovered; those of an unhealthy server stay resolvable (a call answers "backend
//!   unavailable", not "unknown tool") but are not listed;
//! - `broadcast__<tool>` for every backend tool name offered by two or more such servers;
//! - `broadcast__by_tag__<tag>` for every sanitized tag carried by two or more such servers
//!   that offer at least one tool between them.
//!
//! Broadcast membership counts servers whose tools were ever discovered, healthy or not, so
//! broadcast tools do not flap. A broadcast tool is listed while at least one of its members
//! is healthy; with every member down it stays resolvable and unlisted, like a direct tool of
//! a down server.
//!
//! The listing is sorted by exposed name (byte order; every exposed name is ASCII).

mod build;
mod describe;
mod names;
mod narrow;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;

use rmcp::model::Tool;

pub use build::{ServerView, build};
pub use describe::{
    broadcast_description, broadcast_output_schema, direct_description, open_input_schema,
    tag_broadcast_description, tag_input_schema,
};
pub use names::{
    BROADCAST_PREFIX, DEFAULT_MAX_NAME_LEN, HASH_SUFFIX_LEN, MIN_MAX_NAME_LEN,
    SERVER_TOOL_SEPARATOR, SERVER_URI_SEPARATOR, TAG_BROADCAST_PREFIX, canonical_resource_uri,
    direct_candidate, direct_full_name, name_hash, prompt_name, resource_uri, sanitize_tag,
    sanitize_tool_name, shorten, split_prompt_name, split_resource_uri, with_hash_suffix,
};

/// One exposed name and what it stands for.
#[derive(Debug, Clone, PartialEq)]
pub struct ExposedTool {
    /// The exposed name (also `tool.name`).
    pub name: String,
    /// The tool as `tools/list` shows it to a caller who may call every target.
    pub tool: Arc<Tool>,
    /// What a call of this name reaches.
    pub target: Target,
    /// Whether `tools/list` shows it now (its server, or one of its members, is healthy).
    pub listed: bool,
    /// Broadcast tools only: the backend description every member agrees on, kept so that a
    /// description narrowed to a caller's servers can repeat it.
    common_description: Option<String>,
}

/// What a call of an exposed name reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// One tool of one server.
    Direct {
        server: String,
        /// The backend's own tool name, unsanitized.
        tool: String,
    },
    /// The same backend tool on every member server.
    Broadcast {
        /// The backend's own tool name, unsanitized.
        tool: String,
        /// Member servers, sorted.
        servers: Vec<String>,
    },
    /// A tool chosen by the caller (`tool_name`) on every member server that offers it.
    TagBroadcast {
        /// The sanitized tag.
        tag: String,
        /// Member servers (servers carrying a tag that sanitizes to `tag`), sorted.
        servers: Vec<String>,
        /// Every backend tool name offered by at least one member, sorted.
        tools: Vec<String>,
    },
}

impl Target {
    /// The servers this target may reach.
    pub fn servers(&self) -> &[String] {
        match self {
            Target::Direct { server, .. } => std::slice::from_ref(server),
            Target::Broadcast { servers, .. } | Target::TagBroadcast { servers, .. } => servers,
        }
    }

    /// The full name before any sanitizing or shortening: `<server>__<tool>`,
    /// `broadcast__<tool>` or `broadcast__by_tag__<tag>`. Authorization patterns match this
    /// name (SPEC §12), so a shortened exposed name never changes what a rule allows.
    pub fn full_name(&self) -> String {
        match self {
            Target::Direct { server, tool } => direct_full_name(server, tool),
            Target::Broadcast { tool, .. } => format!("{BROADCAST_PREFIX}{tool}"),
            Target::TagBroadcast { tag, .. } => format!("{TAG_BROADCAST_PREFIX}{tag}"),
        }
    }

    /// Whether this is one of the synthesized broadcast tools.
    pub fn is_broadcast(&self) -> bool {
        match self {
            Target::Direct { .. } => false,
            Target::Broadcast { .. } | Target::TagBroadcast { .. } => true,
        }
    }
}

/// Every exposed name of the gateway at one moment. Cheap to read; rebuild it with [`build`].
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Sorted by exposed name.
    entries: Vec<ExposedTool>,
    by_name: HashMap<String, usize>,
    servers: HashMap<String, ServerIndex>,
    /// Backend tool name -> servers offering it (sorted), healthy or not.
    offering: HashMap<String, Vec<String>>,
    /// Indexes into `entries` of the listed ones, in listing order.
    listed: Vec<usize>,
}

#[derive(Debug, Clone, Default)]
struct ServerIndex {
    healthy: bool,
    /// Backend tool name -> index of its direct entry.
    by_tool: HashMap<String, usize>,
    /// Indexes of this server's direct entries, sorted by exposed name.
    direct: Vec<usize>,
}

impl Catalog {
    /// A catalog with no tools (before any backend is discovered).
    pub fn empty() -> Self {
        Self::default()
    }

    /// Number of exposed names, listed or not.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no exposed name at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every exposed name, listed or not, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &ExposedTool> {
        self.entries.iter()
    }

    /// The entry of an exposed name, listed or not.
    pub fn lookup(&self, exposed: &str) -> Option<&ExposedTool> {
        self.by_name.get(exposed).and_then(|&i| self.entries.get(i))
    }

    /// What `tools/list` shows (before authorization), sorted by exposed name.
    pub fn listed(&self) -> impl Iterator<Item = &ExposedTool> {
        self.listed.iter().filter_map(|&i| self.entries.get(i))
    }

    /// The listed direct tools of one server (none while it is unhealthy), sorted by exposed
    /// name.
    pub fn listed_for_server(&self, server: &str) -> impl Iterator<Item = &ExposedTool> {
        self.direct_tools_of(server).filter(|entry| entry.listed)
    }

    /// Every direct tool of one server, listed or not, sorted by exposed name.
    pub fn direct_tools_of(&self, server: &str) -> impl Iterator<Item = &ExposedTool> {
        self.servers
            .get(server)
            .map(|index| index.direct.as_slice())
            .unwrap_or_default()
            .iter()
            .filter_map(|&i| self.entries.get(i))
    }

    /// The direct entry of a backend tool of a server, listed or not.
    pub fn direct(&self, server: &str, backend_tool: &str) -> Option<&ExposedTool> {
        self.servers
            .get(server)
            .and_then(|index| index.by_tool.get(backend_tool))
            .and_then(|&i| self.entries.get(i))
    }

    /// The exposed name of a backend tool of a server.
    pub fn exposed_name(&self, server: &str, backend_tool: &str) -> Option<&str> {
        self.direct(server, backend_tool)
            .map(|entry| entry.name.as_str())
    }

    /// Whether `server`'s last discovered tool list has `backend_tool`.
    pub fn offers(&self, server: &str, backend_tool: &str) -> bool {
        self.direct(server, backend_tool).is_some()
    }

    /// Servers whose last discovered tool list has `backend_tool` (healthy or not), sorted;
    /// empty when none. Serves `POST /tools/{bare name}/invoke` (SPEC §13).
    pub fn servers_offering(&self, backend_tool: &str) -> &[String] {
        self.offering
            .get(backend_tool)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// Whether a server given to [`build`] was healthy then; `None` for a server it was not
    /// given.
    pub fn server_healthy(&self, server: &str) -> Option<bool> {
        self.servers.get(server).map(|index| index.healthy)
    }

    /// Whether `tools/list` would show exactly the same thing from both catalogs (names,
    /// tools and targets), i.e. whether no `notifications/tools/list_changed` is due.
    pub fn same_listing(&self, other: &Catalog) -> bool {
        self.listed.len() == other.listed.len()
            && self.listed().zip(other.listed()).all(|(mine, theirs)| {
                mine.name == theirs.name
                    && (Arc::ptr_eq(&mine.tool, &theirs.tool) || mine.tool == theirs.tool)
                    && mine.target == theirs.target
            })
    }

    /// Indexes entries built by [`build`]. `health` holds every server given to it.
    fn assemble(
        mut entries: Vec<ExposedTool>,
        health: HashMap<String, bool>,
        offering: HashMap<String, Vec<String>>,
    ) -> Self {
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        let mut servers: HashMap<String, ServerIndex> = health
            .into_iter()
            .map(|(name, healthy)| {
                let index = ServerIndex {
                    healthy,
                    ..ServerIndex::default()
                };
                (name, index)
            })
            .collect();
        let mut by_name = HashMap::with_capacity(entries.len());
        let mut listed = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            by_name.insert(entry.name.clone(), i);
            if entry.listed {
                listed.push(i);
            }
            if let Target::Direct { server, tool } = &entry.target {
                let index = servers.entry(server.clone()).or_default();
                index.by_tool.insert(tool.clone(), i);
                index.direct.push(i);
            }
        }
        Self {
            entries,
            by_name,
            servers,
            offering,
            listed,
        }
    }
}

//! Which MCP endpoint a request came by: its scope — `/mcp` all backends, `/mcp/tag/<tag>`
//! the servers carrying a tag, `/mcp/server/<name>` one server — and its view (`?view=search`)
//! (SPEC §14). The same MCP service serves every endpoint; a request carries its
//! [`Endpoint`] from the route to every list and call.

use std::fmt;
use std::sync::Arc;

use crate::config::{Config, ServerConfig};

/// The MCP endpoint of a request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Endpoint {
    pub scope: Scope,
    pub view: View,
}

/// How `tools/list` shows the tools in scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum View {
    /// Every tool.
    #[default]
    Full,
    /// `?view=search`: `search_tools` and `call_tool` only, for clients that cap their tool
    /// count.
    Search,
}

impl View {
    /// The view a request's query asks for (`view=search`; anything else is the full view).
    pub fn of_query(query: Option<&str>) -> View {
        let asks_search =
            query.is_some_and(|query| query.split('&').any(|pair| pair == "view=search"));
        if asks_search {
            View::Search
        } else {
            View::Full
        }
    }
}

/// The backends one MCP endpoint reaches.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Scope {
    /// `/mcp`: every server.
    #[default]
    All,
    /// `/mcp/tag/<tag>`: the servers carrying the tag (as configured, exact).
    Tag(Arc<str>),
    /// `/mcp/server/<name>`: one server.
    Server(Arc<str>),
}

impl Scope {
    /// The scope of `/mcp/<kind>/<name>` (`kind` is `tag` or `server`; `name` decoded).
    pub fn of_path(kind: &str, name: &str) -> Option<Scope> {
        if name.is_empty() {
            return None;
        }
        match kind {
            "tag" => Some(Scope::Tag(Arc::from(name))),
            "server" => Some(Scope::Server(Arc::from(name))),
            _ => None,
        }
    }

    /// Whether `server` is in this scope.
    pub fn includes(&self, server: &ServerConfig) -> bool {
        match self {
            Scope::All => true,
            Scope::Tag(tag) => server.tags.iter().any(|t| **t == **tag),
            Scope::Server(name) => server.name == **name,
        }
    }

    /// Whether the config has anything this scope names: an unknown tag or server is a 404,
    /// not an empty endpoint.
    pub fn exists_in(&self, config: &Config) -> bool {
        match self {
            Scope::All => true,
            _ => config.servers.iter().any(|server| self.includes(server)),
        }
    }

    /// The endpoint's path: `/mcp`, `/mcp/tag/<tag>`, `/mcp/server/<name>` (percent-encoded).
    pub fn path(&self) -> String {
        match self {
            Scope::All => "/mcp".to_owned(),
            Scope::Tag(tag) => format!("/mcp/tag/{}", encode(tag)),
            Scope::Server(name) => format!("/mcp/server/{}", encode(name)),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

/// A path segment as a URL carries it. Server names need nothing; tags may hold anything.
fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(name: &str, tags: &[&str]) -> ServerConfig {
        ServerConfig {
            name: name.to_owned(),
            transport: crate::config::TransportConfig::Http {
                url: "http://127.0.0.1:1/mcp".into(),
            },
            timeout: std::time::Duration::from_secs(1),
            enabled: true,
            description: None,
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            forward_identity: false,
            auth: None,
        }
    }

    #[test]
    fn scopes_include_what_they_name() {
        let elk = server("elk-1", &["elk", "prod"]);
        let db = server("db", &["prod"]);
        assert!(Scope::All.includes(&elk));
        assert!(Scope::Tag("elk".into()).includes(&elk));
        assert!(!Scope::Tag("elk".into()).includes(&db));
        assert!(!Scope::Tag("el".into()).includes(&elk), "whole tags only");
        assert!(Scope::Server("db".into()).includes(&db));
        assert!(!Scope::Server("db".into()).includes(&elk));
    }

    #[test]
    fn the_search_view_is_asked_for_by_query() {
        assert_eq!(View::of_query(None), View::Full);
        assert_eq!(View::of_query(Some("view=search")), View::Search);
        assert_eq!(View::of_query(Some("a=1&view=search")), View::Search);
        assert_eq!(View::of_query(Some("view=searching")), View::Full);
        assert_eq!(View::of_query(Some("view=full")), View::Full);
    }

    #[test]
    fn paths_are_encoded_segments() {
        assert_eq!(Scope::All.path(), "/mcp");
        assert_eq!(
            Scope::Server("prod-elk_1".into()).path(),
            "/mcp/server/prod-elk_1"
        );
        assert_eq!(Scope::Tag("a b/c".into()).path(), "/mcp/tag/a%20b%2Fc");
    }
}

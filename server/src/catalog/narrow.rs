//! What one caller sees of an exposed tool: denied things are invisible (SPEC §12 "Tag
//! broadcasts", §13 "Denied things are invisible"). A broadcast's description names only the
//! servers the caller may reach, and a tag broadcast's `tool_name` enum lists only the tools
//! the caller may call on at least one tagged server.
//!
//! Whether the caller may call the broadcast name itself (`broadcast__*` patterns) is the
//! authorization module's question; this one only narrows the targets.

use std::borrow::Cow;
use std::sync::Arc;

use rmcp::model::Tool;

use super::describe::{broadcast_description, tag_broadcast_description, tag_input_schema};
use super::{Catalog, ExposedTool, Target};

impl Catalog {
    /// How `entry` looks to a caller who may call the backend tool `tool` of `server` exactly
    /// when `may_call(server, tool)` (authorization matches the full `<server>__<tool>`).
    ///
    /// `None` when the caller may reach none of its targets. When the caller may reach every
    /// target, the shared `Arc` comes back unchanged; otherwise a narrowed copy. A broadcast's
    /// input schema stays the one chosen from all members, so it does not vary per caller.
    pub fn tool_for_caller(
        &self,
        entry: &ExposedTool,
        may_call: impl Fn(&str, &str) -> bool,
    ) -> Option<Arc<Tool>> {
        match &entry.target {
            Target::Direct { server, tool } => may_call(server, tool).then(|| entry.tool.clone()),
            Target::Broadcast { tool, servers } => {
                let permitted: Vec<&str> = servers
                    .iter()
                    .map(String::as_str)
                    .filter(|server| may_call(server, tool))
                    .collect();
                if permitted.is_empty() {
                    return None;
                }
                if permitted.len() == servers.len() {
                    return Some(entry.tool.clone());
                }
                let mut narrowed = (*entry.tool).clone();
                narrowed.description = Some(Cow::Owned(broadcast_description(
                    tool,
                    &permitted,
                    entry.common_description.as_deref(),
                )));
                Some(Arc::new(narrowed))
            }
            Target::TagBroadcast {
                tag,
                servers,
                tools,
            } => {
                let reachable =
                    |server: &str, tool: &str| self.offers(server, tool) && may_call(server, tool);
                let permitted_tools: Vec<&str> = tools
                    .iter()
                    .map(String::as_str)
                    .filter(|tool| servers.iter().any(|server| reachable(server, tool)))
                    .collect();
                let permitted_servers: Vec<&str> = servers
                    .iter()
                    .map(String::as_str)
                    .filter(|server| tools.iter().any(|tool| reachable(server, tool)))
                    .collect();
                if permitted_tools.is_empty() || permitted_servers.is_empty() {
                    return None;
                }
                if permitted_tools.len() == tools.len() && permitted_servers.len() == servers.len()
                {
                    return Some(entry.tool.clone());
                }
                let mut narrowed = (*entry.tool).clone();
                narrowed.description = Some(Cow::Owned(tag_broadcast_description(
                    tag,
                    &permitted_servers,
                )));
                narrowed.input_schema = Arc::new(tag_input_schema(&permitted_tools));
                Some(Arc::new(narrowed))
            }
        }
    }
}

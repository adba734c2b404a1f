//! Building a [`Catalog`] from what the gateway knows about its enabled backends: direct
//! tools, broadcast synthesis, tag broadcasts, then one collision-free naming pass over all
//! of them.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use rmcp::model::{JsonObject, Tool};

use super::describe::{
    broadcast_description, broadcast_output_schema, direct_description, open_input_schema,
    tag_broadcast_description, tag_input_schema,
};
use super::names::{
    BROADCAST_PREFIX, NameRequest, TAG_BROADCAST_PREFIX, assign_names, direct_candidate,
    direct_full_name, sanitize_tag, sanitize_tool_name,
};
use super::{Catalog, ExposedTool, Target};

/// What the gateway knows right now about one **enabled** backend server.
#[derive(Debug, Clone, Copy)]
pub struct ServerView<'a> {
    /// Already validated: `[A-Za-z0-9_-]+`, no `__`, not `broadcast`.
    pub name: &'a str,
    /// As configured (unsanitized).
    pub tags: &'a [String],
    /// Connected now.
    pub healthy: bool,
    /// The last discovered tool list; `None` when it was never discovered.
    pub tools: Option<&'a [Tool]>,
}

/// Builds the catalog of `servers`, with exposed names of at most `max_name_len` characters
/// (values below [`super::MIN_MAX_NAME_LEN`] count as that minimum).
///
/// The result depends only on the set of servers and tools, not on their order. Server names
/// are expected to be unique; a repeated name keeps its first view. A backend that lists one
/// tool name twice is taken at its first definition. Tags that are empty are ignored.
pub fn build(servers: &[ServerView<'_>], max_name_len: usize) -> Catalog {
    let mut views: Vec<&ServerView<'_>> = servers.iter().collect();
    // Stable sort: of two views with one name, the first given stays first and is kept.
    views.sort_by(|a, b| a.name.cmp(b.name));
    views.dedup_by(|later, kept| later.name == kept.name);

    let health: HashMap<String, bool> = views
        .iter()
        .map(|view| (view.name.to_owned(), view.healthy))
        .collect();
    let members: Vec<Member<'_>> = views.iter().filter_map(|view| Member::of(view)).collect();

    let plans = plan(&members);
    let requests: Vec<NameRequest> = plans
        .iter()
        .map(|plan| plan.name_request(&members))
        .collect();
    let names = assign_names(&requests, max_name_len);

    let shared = SharedSchemas {
        broadcast_output: Arc::new(broadcast_output_schema()),
        open_input: Arc::new(open_input_schema()),
    };
    let entries: Vec<ExposedTool> = plans
        .iter()
        .zip(names)
        .map(|(plan, name)| plan.materialize(name, &members, &shared))
        .collect();

    let mut offering: HashMap<String, Vec<String>> = HashMap::new();
    for member in &members {
        for tool in member.tools.keys() {
            // Members are sorted by name, so every list comes out sorted.
            offering
                .entry((*tool).to_owned())
                .or_default()
                .push(member.name.to_owned());
        }
    }

    Catalog::assemble(entries, health, offering)
}

/// A server whose tools were discovered at least once: it has direct tools and counts for
/// broadcast and tag membership.
struct Member<'a> {
    name: &'a str,
    healthy: bool,
    tools: BTreeMap<&'a str, &'a Tool>,
    sanitized_tags: BTreeSet<String>,
}

impl<'a> Member<'a> {
    fn of(view: &ServerView<'a>) -> Option<Self> {
        let discovered = view.tools?;
        let mut tools = BTreeMap::new();
        for tool in discovered {
            tools.entry(tool.name.as_ref()).or_insert(tool);
        }
        let sanitized_tags = view
            .tags
            .iter()
            .filter(|tag| !tag.is_empty())
            .map(|tag| sanitize_tag(tag))
            .collect();
        Some(Self {
            name: view.name,
            healthy: view.healthy,
            tools,
            sanitized_tags,
        })
    }
}

/// One exposed tool to create, before it has its final name. Members are indexes into the
/// name-sorted member list, so every list here is sorted by server name.
enum Plan<'a> {
    Direct {
        member: usize,
        tool: &'a Tool,
    },
    Broadcast {
        tool: &'a str,
        members: Vec<usize>,
    },
    TagBroadcast {
        tag: String,
        members: Vec<usize>,
        tools: Vec<&'a str>,
    },
}

fn plan<'a>(members: &[Member<'a>]) -> Vec<Plan<'a>> {
    let mut plans = Vec::new();
    let mut offered_by: BTreeMap<&'a str, Vec<usize>> = BTreeMap::new();
    let mut tagged: BTreeMap<&str, Vec<usize>> = BTreeMap::new();

    for (index, member) in members.iter().enumerate() {
        for (&name, &tool) in &member.tools {
            plans.push(Plan::Direct {
                member: index,
                tool,
            });
            offered_by.entry(name).or_default().push(index);
        }
        for tag in &member.sanitized_tags {
            tagged.entry(tag.as_str()).or_default().push(index);
        }
    }

    for (tool, offering) in offered_by {
        if offering.len() >= 2 {
            plans.push(Plan::Broadcast {
                tool,
                members: offering,
            });
        }
    }

    for (tag, carrying) in tagged {
        if carrying.len() < 2 {
            continue;
        }
        let tools: BTreeSet<&'a str> = carrying
            .iter()
            .filter_map(|&i| members.get(i))
            .flat_map(|member| member.tools.keys().copied())
            .collect();
        // A tag whose servers offer nothing would have an empty `tool_name` enum: no tool.
        if tools.is_empty() {
            continue;
        }
        plans.push(Plan::TagBroadcast {
            tag: tag.to_owned(),
            members: carrying,
            tools: tools.into_iter().collect(),
        });
    }
    plans
}

struct SharedSchemas {
    broadcast_output: Arc<JsonObject>,
    open_input: Arc<JsonObject>,
}

impl Plan<'_> {
    fn name_request(&self, members: &[Member<'_>]) -> NameRequest {
        match self {
            Plan::Direct { member, tool } => {
                let server = member_name(members, *member);
                NameRequest {
                    candidate: direct_candidate(server, &tool.name),
                    full: direct_full_name(server, &tool.name),
                    key: format!("d\0{server}\0{}", tool.name),
                }
            }
            Plan::Broadcast { tool, .. } => NameRequest {
                candidate: format!("{BROADCAST_PREFIX}{}", sanitize_tool_name(tool)),
                full: format!("{BROADCAST_PREFIX}{tool}"),
                key: format!("b\0{tool}"),
            },
            // The tag is already sanitized: tags sanitizing alike form this one tool, so the
            // sanitized name is its full name.
            Plan::TagBroadcast { tag, .. } => {
                let name = format!("{TAG_BROADCAST_PREFIX}{tag}");
                NameRequest {
                    candidate: name.clone(),
                    full: name,
                    key: format!("t\0{tag}"),
                }
            }
        }
    }

    fn materialize(
        &self,
        name: String,
        members: &[Member<'_>],
        shared: &SharedSchemas,
    ) -> ExposedTool {
        match self {
            Plan::Direct { member, tool } => {
                let server = member_name(members, *member);
                let healthy = members.get(*member).is_some_and(|m| m.healthy);
                // Everything the backend declared (annotations, output schema, title, icons,
                // `_meta`) passes through; only the name and description change.
                let mut exposed = (*tool).clone();
                exposed.name = Cow::Owned(name.clone());
                exposed.description = Some(Cow::Owned(direct_description(
                    server,
                    tool.description.as_deref(),
                )));
                ExposedTool {
                    name,
                    tool: Arc::new(exposed),
                    target: Target::Direct {
                        server: server.to_owned(),
                        tool: tool.name.to_string(),
                    },
                    listed: healthy,
                    common_description: None,
                }
            }
            Plan::Broadcast {
                tool,
                members: indexes,
            } => materialize_broadcast(name, tool, indexes, members, shared),
            Plan::TagBroadcast {
                tag,
                members: indexes,
                tools,
            } => {
                let servers = member_names(members, indexes);
                let description = tag_broadcast_description(tag, &servers);
                let exposed = Tool::new_with_raw(
                    name.clone(),
                    Some(Cow::Owned(description)),
                    Arc::new(tag_input_schema(tools)),
                )
                .with_raw_output_schema(shared.broadcast_output.clone());
                ExposedTool {
                    name,
                    tool: Arc::new(exposed),
                    target: Target::TagBroadcast {
                        tag: tag.clone(),
                        servers,
                        tools: tools.iter().map(|&tool| tool.to_owned()).collect(),
                    },
                    listed: any_healthy(members, indexes),
                    common_description: None,
                }
            }
        }
    }
}

/// `broadcast__<tool>`: the members' own input schema when they all agree on it (else any
/// object), their annotations when they all agree on them (else none), and their description
/// when they all agree on it.
fn materialize_broadcast(
    name: String,
    tool: &str,
    indexes: &[usize],
    members: &[Member<'_>],
    shared: &SharedSchemas,
) -> ExposedTool {
    let definitions: Vec<&Tool> = indexes
        .iter()
        .filter_map(|&i| members.get(i))
        .filter_map(|member| member.tools.get(tool).copied())
        .collect();
    let first = definitions.first();

    let input_schema = match first {
        Some(first)
            if definitions.iter().all(|other| {
                Arc::ptr_eq(&first.input_schema, &other.input_schema)
                    || first.input_schema == other.input_schema
            }) =>
        {
            first.input_schema.clone()
        }
        _ => shared.open_input.clone(),
    };
    let annotations = first
        .filter(|first| {
            definitions
                .iter()
                .all(|other| other.annotations == first.annotations)
        })
        .and_then(|first| first.annotations.clone());
    let common_description = first
        .filter(|first| {
            definitions
                .iter()
                .all(|other| other.description == first.description)
        })
        .and_then(|first| first.description.as_deref())
        .filter(|text| !text.is_empty())
        .map(str::to_owned);

    let servers = member_names(members, indexes);
    let description = broadcast_description(tool, &servers, common_description.as_deref());
    let mut exposed = Tool::new_with_raw(name.clone(), Some(Cow::Owned(description)), input_schema)
        .with_raw_output_schema(shared.broadcast_output.clone());
    exposed.annotations = annotations;
    ExposedTool {
        name,
        tool: Arc::new(exposed),
        target: Target::Broadcast {
            tool: tool.to_owned(),
            servers,
        },
        listed: any_healthy(members, indexes),
        common_description,
    }
}

fn member_name<'m>(members: &[Member<'m>], index: usize) -> &'m str {
    members
        .get(index)
        .map(|member| member.name)
        .unwrap_or_default()
}

fn member_names(members: &[Member<'_>], indexes: &[usize]) -> Vec<String> {
    indexes
        .iter()
        .filter_map(|&i| members.get(i))
        .map(|member| member.name.to_owned())
        .collect()
}

fn any_healthy(members: &[Member<'_>], indexes: &[usize]) -> bool {
    indexes
        .iter()
        .filter_map(|&i| members.get(i))
        .any(|member| member.healthy)
}

//! Exposed-name rules (SPEC §13 "Names"): sanitizing, deterministic shortening with a hash
//! suffix, and collision-free assignment of a whole catalog's names at once.
//!
//! Every function here is a pure function of its inputs, so the mapping is stable across
//! restarts and independent of the order in which servers and tools were discovered.

use std::collections::{HashMap, HashSet};

/// The default of `limits.max_tool_name_length`: what Claude Desktop, Cursor and the Anthropic
/// API accept.
pub const DEFAULT_MAX_NAME_LEN: usize = 64;

/// Length of the `_<8 hex digits>` suffix that shortened and colliding names carry.
pub const HASH_SUFFIX_LEN: usize = 1 + HASH_HEX_LEN;

/// Smallest usable maximum: the hash suffix alone. Smaller maximums are treated as this one,
/// because no name can be both shorter and collision-resistant.
pub const MIN_MAX_NAME_LEN: usize = HASH_SUFFIX_LEN;

/// Separator between a server name and a tool name in a direct exposed name.
pub const SERVER_TOOL_SEPARATOR: &str = "__";

/// Prefix of every `broadcast__<tool>` name.
pub const BROADCAST_PREFIX: &str = "broadcast__";

/// Prefix of every `broadcast__by_tag__<tag>` name.
pub const TAG_BROADCAST_PREFIX: &str = "broadcast__by_tag__";

const HASH_HEX_LEN: usize = 8;

/// Replaces every character of a backend tool name outside `[A-Za-z0-9_-]` with `_`
/// (one `_` per character, whatever its UTF-8 length).
pub fn sanitize_tool_name(tool: &str) -> String {
    tool.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Replaces every character of a tag outside `[A-Za-z0-9_]` with `_`, so that
/// `elk-cluster` becomes `elk_cluster`.
pub fn sanitize_tag(tag: &str) -> String {
    tag.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The first 8 hex digits of the SHA-256 of `full`.
pub fn name_hash(full: &str) -> String {
    let digest = crate::sha256::digest(full.as_bytes());
    let mut hex = hex::encode(digest);
    hex.truncate(HASH_HEX_LEN);
    hex
}

/// `name` when it fits in `max` characters; otherwise its first `max - 9` characters, `_`
/// and the first 8 hex digits of the SHA-256 of `full` (the unsanitized full name).
pub fn shorten(name: &str, full: &str, max: usize) -> String {
    if name.chars().count() <= effective_max(max) {
        name.to_owned()
    } else {
        with_hash_suffix(name, full, max)
    }
}

/// `name` + `_` + the hash of `full`, with `name` cut so that the result fits in `max`
/// characters. Colliding names take this form even when they are short.
pub fn with_hash_suffix(name: &str, full: &str, max: usize) -> String {
    let keep = effective_max(max) - HASH_SUFFIX_LEN;
    let mut out: String = name.chars().take(keep).collect();
    out.push('_');
    out.push_str(&name_hash(full));
    out
}

/// The exposed name a direct tool asks for before collisions: `<server>__<sanitized tool>`.
pub fn direct_candidate(server: &str, tool: &str) -> String {
    format!(
        "{server}{SERVER_TOOL_SEPARATOR}{}",
        sanitize_tool_name(tool)
    )
}

/// The full, unsanitized name of a direct tool: what authorization patterns match and what
/// the hash suffix is computed from.
pub fn direct_full_name(server: &str, tool: &str) -> String {
    format!("{server}{SERVER_TOOL_SEPARATOR}{tool}")
}

/// Separates server and URI in exposed resource URIs and templates: `<server>+<uri>`
/// (SPEC §14). Server names cannot contain it.
pub const SERVER_URI_SEPARATOR: char = '+';

/// A backend prompt as exposed: `<server>__<prompt>`, never shortened (no client caps
/// prompt names); authorization patterns match it as they match tool names.
pub fn prompt_name(server: &str, prompt: &str) -> String {
    direct_full_name(server, prompt)
}

/// `(server, backend prompt)` of an exposed prompt name.
pub fn split_prompt_name(exposed: &str) -> Option<(&str, &str)> {
    exposed
        .split_once(SERVER_TOOL_SEPARATOR)
        .filter(|(server, prompt)| !server.is_empty() && !prompt.is_empty())
}

/// A backend resource URI (or URI template) as exposed: `<server>+<uri>`.
pub fn resource_uri(server: &str, uri: &str) -> String {
    format!("{server}{SERVER_URI_SEPARATOR}{uri}")
}

/// `(server, backend URI)` of an exposed resource URI.
pub fn split_resource_uri(exposed: &str) -> Option<(&str, &str)> {
    exposed
        .split_once(SERVER_URI_SEPARATOR)
        .filter(|(server, uri)| !server.is_empty() && !uri.is_empty())
}

/// A resource URI as authorization sees it and the backend receives it, or `None` for one
/// that could name something else than it spells: a pattern such as `docs+file:///public/*`
/// must not let `file:///public/../secret` through. The scheme is lower-cased (RFC 3986
/// schemes are case-insensitive); a path with a `.` or `..` segment, an empty segment
/// (`//`), a backslash, a control character, or a percent-encoded `.`, `/`, `\` or `%` is
/// refused rather than normalised, since backends differ in how they would read it.
pub fn canonical_resource_uri(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once(':')?;
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok || rest.contains('\\') || rest.chars().any(char::is_control) {
        return None;
    }
    let lower = rest.to_ascii_lowercase();
    if ["%2e", "%2f", "%5c", "%25"]
        .iter()
        .any(|e| lower.contains(e))
    {
        return None;
    }
    let path = match rest.strip_prefix("//") {
        // `scheme://authority/path`: the path starts at the authority's end.
        Some(after) => after.find('/').map_or("", |i| &after[i..]),
        None => rest,
    };
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let segments: Vec<&str> = path.split('/').collect();
    let last = segments.len().saturating_sub(1);
    let bad_segment = segments.iter().enumerate().any(|(i, segment)| {
        matches!(*segment, "." | "..") || (segment.is_empty() && i != 0 && i != last)
    });
    if bad_segment {
        return None;
    }
    Some(format!("{}:{rest}", scheme.to_ascii_lowercase()))
}

fn effective_max(max: usize) -> usize {
    max.max(MIN_MAX_NAME_LEN)
}

/// One name to assign: what the entry would like to be called, the full unsanitized name its
/// hash is taken from, and a key that is unique among all requests and orders them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NameRequest {
    pub candidate: String,
    pub full: String,
    pub key: String,
}

/// Assigns one exposed name per request, all distinct, each at most `max` characters
/// (for `max >= 9`).
///
/// 1. A candidate shared by two or more requests gives every one of them the hash suffix of
///    its own full name, so that neither silently shadows the other.
/// 2. A candidate longer than `max` is shortened with the same suffix.
/// 3. Should a suffixed name still equal another final name (two full names that are equal,
///    e.g. server `a_` tool `b` and server `a` tool `_b`, or a backend tool literally named
///    like someone else's suffixed name), a name that needed no suffix keeps it, and every
///    other holder is re-hashed from its full name, its unique key and an attempt counter,
///    in key order, until free. The result still depends only on the set of requests.
pub(crate) fn assign_names(requests: &[NameRequest], max: usize) -> Vec<String> {
    let mut candidate_count: HashMap<&str, usize> = HashMap::new();
    for request in requests {
        *candidate_count
            .entry(request.candidate.as_str())
            .or_default() += 1;
    }

    let mut names: Vec<String> = requests
        .iter()
        .map(|request| {
            let shared = candidate_count
                .get(request.candidate.as_str())
                .is_some_and(|&count| count > 1);
            if shared {
                with_hash_suffix(&request.candidate, &request.full, max)
            } else {
                shorten(&request.candidate, &request.full, max)
            }
        })
        .collect();

    let mut final_count: HashMap<&str, usize> = HashMap::new();
    for name in &names {
        *final_count.entry(name.as_str()).or_default() += 1;
    }
    let mut to_rename: Vec<usize> = (0..requests.len())
        .filter(|&i| {
            let duplicated = final_count
                .get(names[i].as_str())
                .is_some_and(|&count| count > 1);
            // The one holder that got its name without a suffix keeps it.
            duplicated && names[i] != requests[i].candidate
        })
        .collect();
    if to_rename.is_empty() {
        return names;
    }

    let mut taken: HashSet<String> = names
        .iter()
        .enumerate()
        .filter(|(i, _)| !to_rename.contains(i))
        .map(|(_, name)| name.clone())
        .collect();
    to_rename.sort_by(|&a, &b| requests[a].key.cmp(&requests[b].key));
    for i in to_rename {
        let request = &requests[i];
        let mut attempt: u64 = 1;
        let name = loop {
            let salted = format!("{}\0{}\0{attempt}", request.full, request.key);
            let name = with_hash_suffix(&request.candidate, &salted, max);
            if !taken.contains(&name) {
                break name;
            }
            attempt += 1;
        };
        taken.insert(name.clone());
        names[i] = name;
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_uris_that_could_name_something_else_are_refused() {
        for fine in [
            "file:///srv/docs/a.txt",
            "notes://disks/latest",
            "demo://resource/dynamic/text/1",
            "https://example.com/a/b?x=1#frag",
            "https://example.com/dir/",
            "urn:isbn:0451450523",
            "file:///a%20b.txt",
        ] {
            assert_eq!(
                canonical_resource_uri(fine).as_deref(),
                Some(fine),
                "{fine}"
            );
        }
        assert_eq!(
            canonical_resource_uri("FILE:///Secret/X").as_deref(),
            Some("file:///Secret/X"),
            "the scheme only is case-insensitive"
        );
        for refused in [
            "file:///public/../secret/x",
            "file:///./secret/x",
            "file:///public/..",
            "file:////secret/x",
            "file:///public//secret",
            "file:///public/%2e%2e/secret",
            "file:///public%2Fsecret",
            "file:///a%252e",
            "file:///a\\b",
            "file:///a\nb",
            "no-scheme",
            "1http://x",
            ":///x",
        ] {
            assert_eq!(canonical_resource_uri(refused), None, "{refused:?}");
        }
    }

    #[test]
    fn prompt_and_resource_names_split_at_the_first_separator() {
        assert_eq!(prompt_name("elk", "summary"), "elk__summary");
        assert_eq!(
            split_prompt_name("elk__sum__mary"),
            Some(("elk", "sum__mary"))
        );
        assert_eq!(split_prompt_name("elk"), None);
        assert_eq!(split_prompt_name("__x"), None);
        assert_eq!(split_prompt_name("elk__"), None);
        let exposed = resource_uri("docs", "file:///a+b.txt");
        assert_eq!(exposed, "docs+file:///a+b.txt");
        assert_eq!(
            split_resource_uri(&exposed),
            Some(("docs", "file:///a+b.txt"))
        );
        assert_eq!(split_resource_uri("file:///x"), None);
        assert_eq!(split_resource_uri("+file:///x"), None);
        assert_eq!(split_resource_uri("docs+"), None);
    }

    fn request(candidate: &str, full: &str, key: &str) -> NameRequest {
        NameRequest {
            candidate: candidate.to_owned(),
            full: full.to_owned(),
            key: key.to_owned(),
        }
    }

    fn sha_prefix(full: &str) -> String {
        // sha2: independent of the implementation under test.
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(full.as_bytes()))[..8].to_owned()
    }

    #[test]
    fn sanitize_tool_name_keeps_allowed_characters() {
        assert_eq!(sanitize_tool_name("search_logs-v2"), "search_logs-v2");
        assert_eq!(sanitize_tool_name("ABCxyz019"), "ABCxyz019");
    }

    #[test]
    fn sanitize_tool_name_replaces_each_other_character_with_one_underscore() {
        assert_eq!(sanitize_tool_name("a.b"), "a_b");
        assert_eq!(sanitize_tool_name("get file"), "get_file");
        assert_eq!(sanitize_tool_name("ns/tool:run"), "ns_tool_run");
        assert_eq!(sanitize_tool_name("héllo"), "h_llo");
        assert_eq!(sanitize_tool_name("日本"), "__");
        assert_eq!(sanitize_tool_name("🙂x"), "_x");
        assert_eq!(sanitize_tool_name(""), "");
    }

    #[test]
    fn sanitize_tag_also_replaces_dashes() {
        assert_eq!(sanitize_tag("elk-cluster"), "elk_cluster");
        assert_eq!(sanitize_tag("elk_cluster"), "elk_cluster");
        assert_eq!(sanitize_tag("elk.cluster"), "elk_cluster");
        assert_eq!(sanitize_tag("Prod 1"), "Prod_1");
        assert_eq!(sanitize_tag("ünï"), "_n_");
    }

    #[test]
    fn name_hash_is_the_first_eight_hex_digits_of_sha256() {
        // SHA-256("abc") = ba7816bf8f01cfea...
        assert_eq!(name_hash("abc"), "ba7816bf");
        // SHA-256("") = e3b0c44298fc1c14...
        assert_eq!(name_hash(""), "e3b0c442");
        assert_eq!(name_hash("srv__a.b"), sha_prefix("srv__a.b"));
    }

    #[test]
    fn shorten_leaves_names_that_fit() {
        let exactly_64 = "a".repeat(64);
        assert_eq!(shorten(&exactly_64, "ignored", 64), exactly_64);
        assert_eq!(shorten("short", "short", 64), "short");
        assert_eq!(shorten("", "", 64), "");
    }

    #[test]
    fn shorten_cuts_65_characters_to_55_plus_hash() {
        let name = format!("{}{}", "a".repeat(55), "b".repeat(10));
        assert_eq!(name.len(), 65);
        let short = shorten(&name, "full-name", 64);
        assert_eq!(short.len(), 64);
        assert_eq!(
            short,
            format!("{}_{}", "a".repeat(55), sha_prefix("full-name"))
        );
    }

    #[test]
    fn shorten_hashes_the_full_name_not_the_sanitized_one() {
        let name = "x".repeat(100);
        let one = shorten(&name, "srv__x.y", 64);
        let other = shorten(&name, "srv__x_y", 64);
        assert_ne!(one, other);
        assert!(one.ends_with(&sha_prefix("srv__x.y")));
    }

    #[test]
    fn shorten_handles_200_characters_and_custom_maximums() {
        let name = "n".repeat(200);
        assert_eq!(shorten(&name, &name, 64).len(), 64);
        let to_32 = shorten(&name, &name, 32);
        assert_eq!(to_32.len(), 32);
        assert_eq!(&to_32[..23], "n".repeat(23));
        assert_eq!(&to_32[23..24], "_");
        assert_eq!(shorten(&name, &name, 128).len(), 128);
        assert_eq!(shorten(&name, &name, 200), name);
    }

    #[test]
    fn shorten_treats_tiny_maximums_as_the_hash_suffix_alone() {
        let name = "abcdefghijkl";
        assert_eq!(shorten(name, name, 9), format!("_{}", sha_prefix(name)));
        assert_eq!(shorten(name, name, 3), format!("_{}", sha_prefix(name)));
        assert_eq!(shorten(name, name, 0).len(), 9);
        // What fits in the minimum stays as it is.
        assert_eq!(shorten("abc", "abc", 0), "abc");
    }

    #[test]
    fn shorten_counts_characters_and_never_splits_one() {
        let name = "é".repeat(70);
        let short = shorten(&name, &name, 64);
        assert_eq!(short.chars().count(), 64);
        assert!(short.starts_with(&"é".repeat(55)));
    }

    #[test]
    fn with_hash_suffix_keeps_short_names_whole() {
        assert_eq!(
            with_hash_suffix("srv__a_b", "srv__a.b", 64),
            format!("srv__a_b_{}", sha_prefix("srv__a.b"))
        );
    }

    #[test]
    fn with_hash_suffix_shortens_to_fit() {
        let name = "s".repeat(60);
        let out = with_hash_suffix(&name, "full", 64);
        assert_eq!(out.len(), 64);
        assert_eq!(out, format!("{}_{}", "s".repeat(55), sha_prefix("full")));
    }

    #[test]
    fn direct_names_join_server_and_tool() {
        assert_eq!(
            direct_candidate("prod-elk-1", "search.logs"),
            "prod-elk-1__search_logs"
        );
        assert_eq!(
            direct_full_name("prod-elk-1", "search.logs"),
            "prod-elk-1__search.logs"
        );
    }

    #[test]
    fn assign_names_keeps_unique_short_candidates() {
        let names = assign_names(
            &[request("s__a", "s__a", "1"), request("s__b", "s__b", "2")],
            64,
        );
        assert_eq!(names, ["s__a", "s__b"]);
    }

    #[test]
    fn assign_names_suffixes_every_member_of_a_collision() {
        let names = assign_names(
            &[
                request("s__a_b", "s__a.b", "1"),
                request("s__a_b", "s__a_b", "2"),
                request("s__c", "s__c", "3"),
            ],
            64,
        );
        assert_eq!(names[0], format!("s__a_b_{}", sha_prefix("s__a.b")));
        assert_eq!(names[1], format!("s__a_b_{}", sha_prefix("s__a_b")));
        assert_eq!(names[2], "s__c");
    }

    #[test]
    fn assign_names_shortens_colliding_long_names_to_fit() {
        let long = "x".repeat(70);
        let names = assign_names(
            &[
                request(&long, &format!("{long}.a"), "1"),
                request(&long, &format!("{long}-a"), "2"),
            ],
            64,
        );
        assert!(names.iter().all(|n| n.len() == 64));
        assert_ne!(names[0], names[1]);
    }

    #[test]
    fn assign_names_separates_equal_full_names() {
        // Server `a_` tool `b` and server `a` tool `_b` share the full name `a___b`.
        let requests = [
            request("a___b", "a___b", "d\0a_\0b"),
            request("a___b", "a___b", "d\0a\0_b"),
        ];
        let names = assign_names(&requests, 64);
        assert_ne!(names[0], names[1]);
        assert!(
            names
                .iter()
                .all(|n| n.starts_with("a___b_") && n.len() == 14)
        );
        // Order of the requests does not matter.
        let reversed = [requests[1].clone(), requests[0].clone()];
        let names_reversed = assign_names(&reversed, 64);
        assert_eq!(names_reversed, [names[1].clone(), names[0].clone()]);
    }

    #[test]
    fn assign_names_lets_a_natural_name_keep_it_when_a_suffix_lands_on_it() {
        let suffixed = format!("s__a_b_{}", sha_prefix("s__a.b"));
        let requests = [
            request("s__a_b", "s__a.b", "1"),
            request("s__a_b", "s__a_b", "2"),
            // A backend tool literally named like the first one's suffixed name.
            request(&suffixed, &suffixed, "3"),
        ];
        let names = assign_names(&requests, 64);
        assert_eq!(names[2], suffixed);
        assert_ne!(names[0], suffixed);
        assert!(names[0].starts_with("s__a_b_") && names[0].len() == suffixed.len());
        assert_eq!(names[1], format!("s__a_b_{}", sha_prefix("s__a_b")));
        let unique: HashSet<&String> = names.iter().collect();
        assert_eq!(unique.len(), 3);
    }

    #[test]
    fn assign_names_stays_unique_with_tiny_maximums() {
        let requests: Vec<NameRequest> = (0..200)
            .map(|i| {
                let name = format!("server__tool_{i}");
                request(&name, &name, &name)
            })
            .collect();
        let names = assign_names(&requests, 9);
        let unique: HashSet<&String> = names.iter().collect();
        assert_eq!(unique.len(), 200);
        assert!(names.iter().all(|n| n.len() == 9));
    }

    #[test]
    fn assign_names_of_nothing_is_nothing() {
        assert!(assign_names(&[], 64).is_empty());
    }
}

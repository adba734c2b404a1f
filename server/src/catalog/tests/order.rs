//! Independence from input order, and what one caller sees.

use super::*;

fn rich_fixture() -> Vec<Server> {
    let long = "l".repeat(70);
    vec![
        server("prod-elk-1", tools(&["search_logs", "a.b", "a_b", &long]))
            .tagged(&["elk-cluster", "prod"]),
        server("prod-elk-2", tools(&["search_logs", "stats", &long]))
            .tagged(&["elk_cluster", "prod"]),
        server("staging-elk", tools(&["search_logs", "x y"]))
            .tagged(&["staging"])
            .down(),
        server("broadcast_", tools(&["tool", "search_logs"])).tagged(&["prod"]),
        server("db", tools(&["_tool", "query"])).tagged(&["prod"]),
        server("db2", tools(&["_tool", "query", "by_tag__prod"])),
        server("ghost", tools(&["search_logs"]))
            .tagged(&["prod"])
            .undiscovered(),
        server("empty", Vec::new()).tagged(&["staging"]),
    ]
}

fn permutations_of(servers: &[Server]) -> Vec<Vec<Server>> {
    let mut out = Vec::new();
    for rotation in 0..servers.len() {
        let mut rotated = servers.to_vec();
        rotated.rotate_left(rotation);
        let mut reversed_tools = rotated.clone();
        for s in &mut reversed_tools {
            if let Some(list) = &mut s.tools {
                list.reverse();
            }
            s.tags.reverse();
        }
        out.push(rotated);
        let mut reversed = reversed_tools;
        reversed.reverse();
        out.push(reversed);
    }
    out
}

#[test]
fn the_catalog_does_not_depend_on_input_order() {
    let fixture = rich_fixture();
    let reference = catalog(&fixture);
    let reference_entries: Vec<&ExposedTool> = reference.iter().collect();
    assert!(reference.len() > 20);
    for permuted in permutations_of(&fixture) {
        let built = catalog(&permuted);
        assert_eq!(built.iter().collect::<Vec<_>>(), reference_entries);
        assert!(built.same_listing(&reference));
        for s in &fixture {
            assert_eq!(
                built.servers_offering("search_logs"),
                reference.servers_offering("search_logs")
            );
            assert_eq!(
                built.server_healthy(&s.name),
                reference.server_healthy(&s.name)
            );
        }
    }
}

#[test]
fn the_rich_catalog_is_consistent() {
    let built = catalog(&rich_fixture());
    let names = all_names(&built);
    assert_eq!(names.iter().collect::<HashSet<_>>().len(), names.len());
    assert!(names.iter().all(|name| name.len() <= DEFAULT_MAX_NAME_LEN));
    assert_eq!(
        built
            .lookup("broadcast__search_logs")
            .expect("broadcast")
            .target
            .servers(),
        strings(&["broadcast_", "prod-elk-1", "prod-elk-2", "staging-elk"]).as_slice()
    );
    let prod = built
        .iter()
        .find(|entry| matches!(&entry.target, Target::TagBroadcast { tag, .. } if tag == "prod"))
        .expect("prod tag");
    assert_eq!(
        prod.target.servers(),
        strings(&["broadcast_", "db", "prod-elk-1", "prod-elk-2"]).as_slice()
    );
    for entry in built.iter() {
        assert_eq!(entry.tool.name, entry.name);
        if let Target::Direct { server, tool } = &entry.target {
            assert_eq!(built.exposed_name(server, tool), Some(entry.name.as_str()));
            assert_eq!(entry.listed, built.server_healthy(server) == Some(true));
        }
    }
    assert!(built.lookup("broadcast__by_tag__staging").is_some());
    assert!(built.lookup("broadcast__by_tag__elk_cluster").is_some());
}

fn allow(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str, &str) -> bool {
    move |server, tool| pairs.iter().any(|&(s, t)| s == server && t == tool)
}

#[test]
fn a_caller_sees_a_direct_tool_only_when_allowed() {
    let built = catalog(&[server("a", tools(&["t"]))]);
    let entry = built.lookup("a__t").expect("t");
    let seen = built
        .tool_for_caller(entry, allow(&[("a", "t")]))
        .expect("allowed");
    assert!(Arc::ptr_eq(&seen, &entry.tool));
    assert!(built.tool_for_caller(entry, allow(&[("a", "u")])).is_none());
}

#[test]
fn a_broadcast_names_only_the_servers_a_caller_may_reach() {
    let built = catalog(&[
        server("a", tools(&["t"])),
        server("b", tools(&["t"])),
        server("c", tools(&["t"])),
    ]);
    let entry = built.lookup("broadcast__t").expect("broadcast");
    let all = built.tool_for_caller(entry, |_, _| true).expect("all");
    assert!(Arc::ptr_eq(&all, &entry.tool));

    let some = built
        .tool_for_caller(entry, allow(&[("a", "t"), ("c", "t")]))
        .expect("some");
    let text = some.description.as_deref().unwrap_or_default();
    assert!(text.contains("2 servers (a, c)"), "{text}");
    assert!(!text.contains(" b"), "{text}");
    assert!(text.ends_with("\n\ndoes t"), "{text}");
    assert_eq!(some.input_schema, entry.tool.input_schema);
    assert_eq!(some.name, entry.tool.name);

    assert!(built.tool_for_caller(entry, |_, _| false).is_none());
}

#[test]
fn a_tag_broadcast_lists_only_what_a_caller_may_call() {
    let built = catalog(&[
        server("a", tools(&["t", "u"])).tagged(&["g"]),
        server("b", tools(&["t", "v"])).tagged(&["g"]),
    ]);
    let entry = built.lookup("broadcast__by_tag__g").expect("tag");
    let all = built.tool_for_caller(entry, |_, _| true).expect("all");
    assert!(Arc::ptr_eq(&all, &entry.tool));

    // `v` is allowed on `a` only, where it does not exist: it does not count.
    let some = built
        .tool_for_caller(entry, allow(&[("a", "t"), ("a", "v"), ("b", "t")]))
        .expect("some");
    assert_eq!(
        some.input_schema["properties"]["tool_name"]["enum"],
        json!(["t"])
    );
    assert!(
        some.description
            .as_deref()
            .unwrap_or_default()
            .contains("(a, b)")
    );

    let one_server = built
        .tool_for_caller(entry, allow(&[("b", "v")]))
        .expect("b only");
    assert_eq!(
        one_server.input_schema["properties"]["tool_name"]["enum"],
        json!(["v"])
    );
    let text = one_server.description.as_deref().unwrap_or_default();
    assert!(text.contains("1 server (b)"), "{text}");

    assert!(built.tool_for_caller(entry, allow(&[("a", "v")])).is_none());
    assert!(built.tool_for_caller(entry, |_, _| false).is_none());
}

//! Synthesized `broadcast__<tool>` and `broadcast__by_tag__<tag>` tools.

use super::*;

#[test]
fn a_tool_on_one_server_has_no_broadcast() {
    let built = catalog(&[server("a", tools(&["t"])), server("b", tools(&["u"]))]);
    assert!(built.iter().all(|entry| !entry.target.is_broadcast()));
}

#[test]
fn a_tool_on_two_servers_has_one_broadcast() {
    let built = catalog(&[
        server("prod-elk-2", tools(&["search_logs"])),
        server("prod-elk-1", tools(&["search_logs"])),
    ]);
    let entry = built.lookup("broadcast__search_logs").expect("broadcast");
    assert_eq!(
        entry.target,
        Target::Broadcast {
            tool: "search_logs".into(),
            servers: strings(&["prod-elk-1", "prod-elk-2"]),
        }
    );
    assert!(entry.listed);
    assert_eq!(entry.tool.name, "broadcast__search_logs");
    let text = description(entry);
    assert!(text.contains("prod-elk-1, prod-elk-2"), "{text}");
    assert!(text.contains("`search_logs`"), "{text}");
    assert!(text.ends_with("\n\ndoes search_logs"), "{text}");
    assert_eq!(built.len(), 3);
}

#[test]
fn a_broadcast_of_an_odd_name_targets_the_backend_name() {
    let built = catalog(&[server("a", tools(&["x.y"])), server("b", tools(&["x.y"]))]);
    let entry = built.lookup("broadcast__x_y").expect("broadcast");
    assert_eq!(
        entry.target,
        Target::Broadcast {
            tool: "x.y".into(),
            servers: strings(&["a", "b"])
        }
    );
}

#[test]
fn identical_schemas_give_the_broadcast_the_tool_schema() {
    let built = catalog(&[server("a", tools(&["t"])), server("b", tools(&["t"]))]);
    let entry = built.lookup("broadcast__t").expect("broadcast");
    assert_eq!(entry.tool.input_schema, query_schema());
}

#[test]
fn differing_schemas_give_the_broadcast_an_open_schema() {
    let other = Tool::new(
        "t",
        "does t",
        schema(json!({"type":"object","properties":{}})),
    );
    let built = catalog(&[server("a", tools(&["t"])), server("b", vec![other])]);
    let entry = built.lookup("broadcast__t").expect("broadcast");
    assert_eq!(
        Value::Object((*entry.tool.input_schema).clone()),
        json!({"type":"object","properties":{},"additionalProperties":true})
    );
}

#[test]
fn schemas_equal_up_to_key_order_count_as_identical() {
    let one = Tool::new("t", "d", schema(json!({"type":"object","required":["q"]})));
    let two = Tool::new("t", "d", schema(json!({"required":["q"],"type":"object"})));
    let built = catalog(&[server("a", vec![one]), server("b", vec![two])]);
    let entry = built.lookup("broadcast__t").expect("broadcast");
    assert_eq!(
        Value::Object((*entry.tool.input_schema).clone()),
        json!({"type":"object","required":["q"]})
    );
}

#[test]
fn broadcast_tools_declare_the_broadcast_output_schema() {
    let backend = tool("t").with_raw_output_schema(schema(json!({"type":"object"})));
    let built = catalog(&[
        server("a", vec![backend.clone()]).tagged(&["g"]),
        server("b", vec![backend]).tagged(&["g"]),
    ]);
    let expected = Some(Arc::new(broadcast_output_schema()));
    assert_eq!(
        built
            .lookup("broadcast__t")
            .expect("broadcast")
            .tool
            .output_schema,
        expected
    );
    assert_eq!(
        built
            .lookup("broadcast__by_tag__g")
            .expect("tag")
            .tool
            .output_schema,
        expected
    );
    // The direct tools keep the backend's own.
    assert_eq!(
        built.lookup("a__t").expect("direct").tool.output_schema,
        Some(schema(json!({"type":"object"})))
    );
}

#[test]
fn broadcasts_keep_annotations_all_members_agree_on() {
    let read_only = ToolAnnotations::new().read_only(true);
    let agree = catalog(&[
        server("a", vec![tool("t").with_annotations(read_only.clone())]),
        server("b", vec![tool("t").with_annotations(read_only.clone())]),
    ]);
    assert_eq!(
        agree.lookup("broadcast__t").expect("b").tool.annotations,
        Some(read_only.clone())
    );

    let disagree = catalog(&[
        server("a", vec![tool("t").with_annotations(read_only)]),
        server("b", tools(&["t"])),
    ]);
    assert_eq!(
        disagree.lookup("broadcast__t").expect("b").tool.annotations,
        None
    );
}

#[test]
fn broadcasts_repeat_only_a_description_all_members_agree_on() {
    let built = catalog(&[
        server("a", vec![Tool::new("t", "one way", query_schema())]),
        server("b", vec![Tool::new("t", "another way", query_schema())]),
    ]);
    let text = description(built.lookup("broadcast__t").expect("broadcast"));
    assert!(
        !text.contains("one way") && !text.contains("another way"),
        "{text}"
    );
    assert!(text.contains("(a, b)"), "{text}");
}

#[test]
fn a_broadcast_over_three_servers_names_all_three() {
    let built = catalog(&[
        server("c", tools(&["t"])),
        server("a", tools(&["t"])),
        server("b", tools(&["t"])),
    ]);
    let entry = built.lookup("broadcast__t").expect("broadcast");
    assert_eq!(entry.target.servers(), strings(&["a", "b", "c"]).as_slice());
    assert!(description(entry).contains("3 servers (a, b, c)"));
}

#[test]
fn a_tag_on_one_server_has_no_tag_broadcast() {
    let built = catalog(&[
        server("a", tools(&["t"])).tagged(&["solo"]),
        server("b", tools(&["t"])),
    ]);
    assert!(built.lookup("broadcast__by_tag__solo").is_none());
}

#[test]
fn a_tag_on_two_servers_has_a_sanitized_tag_broadcast() {
    let built = catalog(&[
        server("prod-elk-1", tools(&["search_logs", "stats"])).tagged(&["elk-cluster", "prod"]),
        server("prod-elk-2", tools(&["search_logs", "health"])).tagged(&["elk-cluster"]),
    ]);
    let entry = built
        .lookup("broadcast__by_tag__elk_cluster")
        .expect("tag broadcast");
    assert_eq!(
        entry.target,
        Target::TagBroadcast {
            tag: "elk_cluster".into(),
            servers: strings(&["prod-elk-1", "prod-elk-2"]),
            tools: strings(&["health", "search_logs", "stats"]),
        }
    );
    assert!(entry.listed);
    assert_eq!(
        Value::Object((*entry.tool.input_schema).clone()),
        Value::Object(tag_input_schema(&["health", "search_logs", "stats"]))
    );
    assert_eq!(
        entry.tool.input_schema["properties"]["tool_name"]["enum"],
        json!(["health", "search_logs", "stats"])
    );
    assert_eq!(entry.tool.input_schema["required"], json!(["tool_name"]));
    assert!(description(entry).contains("prod-elk-1, prod-elk-2"));
    assert!(built.lookup("broadcast__by_tag__prod").is_none());
}

#[test]
fn the_tag_enum_lists_backend_names_in_byte_order() {
    let built = catalog(&[
        server("a", tools(&["b", "a.b"])).tagged(&["g"]),
        server("b", tools(&["Z", "b"])).tagged(&["g"]),
    ]);
    let entry = built.lookup("broadcast__by_tag__g").expect("tag");
    assert_eq!(
        entry.tool.input_schema["properties"]["tool_name"]["enum"],
        json!(["Z", "a.b", "b"])
    );
}

#[test]
fn tags_sanitizing_alike_form_one_tool() {
    let built = catalog(&[
        server("a", tools(&["t"])).tagged(&["elk-cluster"]),
        server("b", tools(&["u"])).tagged(&["elk_cluster"]),
        server("c", tools(&["v"])).tagged(&["elk.cluster"]),
    ]);
    let tags: Vec<&ExposedTool> = built
        .iter()
        .filter(|entry| matches!(entry.target, Target::TagBroadcast { .. }))
        .collect();
    assert_eq!(tags.len(), 1);
    assert_eq!(tags[0].name, "broadcast__by_tag__elk_cluster");
    assert_eq!(
        tags[0].target.servers(),
        strings(&["a", "b", "c"]).as_slice()
    );
}

#[test]
fn a_server_carrying_two_alike_tags_counts_once() {
    let built = catalog(&[
        server("a", tools(&["t"])).tagged(&["x-y", "x_y"]),
        server("b", tools(&["t"])),
    ]);
    assert!(built.lookup("broadcast__by_tag__x_y").is_none());
}

#[test]
fn tags_of_servers_without_tools_give_no_tag_broadcast() {
    let built = catalog(&[
        server("a", Vec::new()).tagged(&["g"]),
        server("b", Vec::new()).tagged(&["g"]),
        server("c", tools(&["t"])).tagged(&["h"]),
        server("d", tools(&["t"])).tagged(&["h"]).undiscovered(),
    ]);
    assert!(built.lookup("broadcast__by_tag__g").is_none());
    assert!(built.lookup("broadcast__by_tag__h").is_none());
}

#[test]
fn empty_tags_are_ignored() {
    let built = catalog(&[
        server("a", tools(&["t"])).tagged(&[""]),
        server("b", tools(&["t"])).tagged(&[""]),
    ]);
    assert!(
        built
            .iter()
            .all(|entry| !entry.name.starts_with(TAG_BROADCAST_PREFIX))
    );
}

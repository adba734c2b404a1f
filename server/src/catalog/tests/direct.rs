//! Direct tools: names, descriptions, passthrough of what the backend declared.

use super::*;

#[test]
fn empty_input_gives_an_empty_catalog() {
    let built = catalog(&[]);
    assert!(built.is_empty());
    assert_eq!(built.len(), 0);
    assert_eq!(built.listed().count(), 0);
    assert!(built.same_listing(&Catalog::empty()));
    assert!(Catalog::default().lookup("anything").is_none());
}

#[test]
fn direct_tools_are_prefixed_with_their_server() {
    let built = catalog(&[server("prod-elk-1", tools(&["search_logs", "get_stats"]))]);
    assert_eq!(
        all_names(&built),
        ["prod-elk-1__get_stats", "prod-elk-1__search_logs"]
    );
    let entry = built.lookup("prod-elk-1__search_logs").expect("exposed");
    assert_eq!(entry.target, direct_target("prod-elk-1", "search_logs"));
    assert!(entry.listed);
    assert_eq!(entry.tool.name, "prod-elk-1__search_logs");
    assert_eq!(description(entry), "[prod-elk-1] does search_logs");
    assert_eq!(entry.tool.input_schema, query_schema());
}

#[test]
fn description_is_the_bare_prefix_without_backend_text() {
    let empty = Tool::new("empty", "", query_schema());
    let built = catalog(&[server("s", vec![tool_without_description("none"), empty])]);
    assert_eq!(description(built.lookup("s__none").expect("none")), "[s]");
    assert_eq!(description(built.lookup("s__empty").expect("empty")), "[s]");
}

#[test]
fn direct_tools_keep_everything_else_the_backend_declared() {
    let output = schema(json!({"type":"object","properties":{"hits":{"type":"integer"}}}));
    let annotations = ToolAnnotations::with_title("Search")
        .read_only(true)
        .destructive(false)
        .idempotent(true)
        .open_world(false);
    let mut meta = MetaObject::new();
    meta.0.insert("vendor/x".to_owned(), json!({"k": 1}));
    let backend = tool("search")
        .with_title("Search things")
        .with_raw_output_schema(output.clone())
        .with_annotations(annotations.clone())
        .with_icons(vec![
            Icon::new("https://example.com/i.png").with_mime_type("image/png"),
        ])
        .with_meta(meta.clone());
    let built = catalog(&[server("s", vec![backend.clone()])]);
    let exposed = &built.lookup("s__search").expect("exposed").tool;

    let mut expected = backend;
    expected.name = "s__search".into();
    expected.description = Some("[s] does search".into());
    assert_eq!(**exposed, expected);
    assert_eq!(exposed.output_schema, Some(output));
    assert_eq!(exposed.annotations, Some(annotations));
    assert_eq!(exposed.title.as_deref(), Some("Search things"));
    assert_eq!(exposed.meta, Some(meta));
    assert!(exposed.icons.is_some());
}

#[test]
fn direct_tools_without_output_schema_get_none() {
    let built = catalog(&[server("s", tools(&["t"]))]);
    assert_eq!(built.lookup("s__t").expect("t").tool.output_schema, None);
}

#[test]
fn odd_tool_names_are_sanitized_and_resolve_to_the_backend_name() {
    let built = catalog(&[server(
        "s",
        tools(&["get.file", "run now", "héllo", "日本", "a/b:c"]),
    )]);
    let names: HashSet<&str> = all_names(&built).into_iter().collect();
    let expected: HashSet<&str> = ["s__get_file", "s__run_now", "s__h_llo", "s____", "s__a_b_c"]
        .into_iter()
        .collect();
    assert_eq!(names, expected);
    assert_eq!(
        built.lookup("s__get_file").expect("get.file").target,
        direct_target("s", "get.file")
    );
    assert_eq!(
        built.lookup("s____").expect("日本").target,
        direct_target("s", "日本")
    );
    assert_eq!(built.exposed_name("s", "run now"), Some("s__run_now"));
    assert_eq!(built.exposed_name("s", "run_now"), None);
}

#[test]
fn an_empty_tool_name_is_exposed_without_panicking() {
    let built = catalog(&[server("s", tools(&[""]))]);
    assert_eq!(built.exposed_name("s", ""), Some("s__"));
    assert_eq!(
        built.lookup("s__").expect("empty").target,
        direct_target("s", "")
    );
}

#[test]
fn one_tool_name_on_two_servers_gives_two_direct_names() {
    let built = catalog(&[server("a", tools(&["t"])), server("b", tools(&["t"]))]);
    assert_eq!(built.exposed_name("a", "t"), Some("a__t"));
    assert_eq!(built.exposed_name("b", "t"), Some("b__t"));
}

#[test]
fn a_backend_listing_a_name_twice_is_taken_at_its_first_definition() {
    let first = Tool::new("t", "first", query_schema());
    let second = Tool::new("t", "second", query_schema());
    let built = catalog(&[server("s", vec![first, second])]);
    assert_eq!(built.len(), 1);
    assert_eq!(description(built.lookup("s__t").expect("t")), "[s] first");
}

#[test]
fn a_repeated_server_name_keeps_its_first_view() {
    let built = catalog(&[server("s", tools(&["one"])), server("s", tools(&["two"]))]);
    assert_eq!(all_names(&built), ["s__one"]);
    assert!(built.servers_offering("one").len() == 1);
}

//! Servers coming and going, listing order and `same_listing`.

use super::*;

#[test]
fn an_unhealthy_server_keeps_resolvable_unlisted_tools() {
    let built = catalog(&[
        server("up", tools(&["t"])),
        server("down", tools(&["u"])).down(),
    ]);
    let entry = built.lookup("down__u").expect("still resolvable");
    assert!(!entry.listed);
    assert_eq!(entry.target, direct_target("down", "u"));
    assert_eq!(listed_names(&built), ["up__t"]);
    assert_eq!(built.listed_for_server("down").count(), 0);
    assert_eq!(built.direct_tools_of("down").count(), 1);
    assert_eq!(built.exposed_name("down", "u"), Some("down__u"));
    assert_eq!(built.server_healthy("down"), Some(false));
    assert_eq!(built.server_healthy("up"), Some(true));
    assert_eq!(built.server_healthy("nobody"), None);
}

#[test]
fn a_server_never_discovered_has_no_tools_and_no_membership() {
    let built = catalog(&[
        server("a", tools(&["t"])),
        server("b", tools(&["t"])).undiscovered(),
    ]);
    assert_eq!(all_names(&built), ["a__t"]);
    assert_eq!(built.servers_offering("t"), strings(&["a"]).as_slice());
    assert_eq!(built.server_healthy("b"), Some(true));
    assert_eq!(built.direct_tools_of("b").count(), 0);
}

#[test]
fn broadcast_membership_does_not_flap_with_health() {
    let both_up = [server("a", tools(&["t"])), server("b", tools(&["t"]))];
    let one_down = [
        server("a", tools(&["t"])),
        server("b", tools(&["t"])).down(),
    ];
    let both_down = [
        server("a", tools(&["t"])).down(),
        server("b", tools(&["t"])).down(),
    ];
    let up = catalog(&both_up);
    let half = catalog(&one_down);
    let down = catalog(&both_down);
    for built in [&up, &half, &down] {
        assert_eq!(all_names(built), ["a__t", "b__t", "broadcast__t"]);
        assert_eq!(
            built.lookup("broadcast__t").expect("broadcast").target,
            Target::Broadcast {
                tool: "t".into(),
                servers: strings(&["a", "b"])
            }
        );
    }
    assert!(half.lookup("broadcast__t").expect("b").listed);
    assert_eq!(listed_names(&half), ["a__t", "broadcast__t"]);
    assert!(!down.lookup("broadcast__t").expect("b").listed);
    assert!(listed_names(&down).is_empty());
}

#[test]
fn a_tag_broadcast_is_listed_while_one_member_is_healthy() {
    let half = catalog(&[
        server("a", tools(&["t"])).tagged(&["g"]),
        server("b", tools(&["u"])).tagged(&["g"]).down(),
    ]);
    let entry = half.lookup("broadcast__by_tag__g").expect("tag");
    assert!(entry.listed);
    // The down member's last known tools stay in the enum.
    assert_eq!(
        entry.tool.input_schema["properties"]["tool_name"]["enum"],
        json!(["t", "u"])
    );
    let down = catalog(&[
        server("a", tools(&["t"])).tagged(&["g"]).down(),
        server("b", tools(&["u"])).tagged(&["g"]).down(),
    ]);
    assert!(!down.lookup("broadcast__by_tag__g").expect("tag").listed);
}

#[test]
fn servers_offering_counts_discovered_servers_healthy_or_not() {
    let built = catalog(&[
        server("c", tools(&["t"])).down(),
        server("a", tools(&["t", "solo"])),
        server("b", tools(&["t"])).undiscovered(),
    ]);
    assert_eq!(built.servers_offering("t"), strings(&["a", "c"]).as_slice());
    assert_eq!(built.servers_offering("solo"), strings(&["a"]).as_slice());
    assert!(built.servers_offering("missing").is_empty());
    assert!(built.offers("c", "t"));
    assert!(!built.offers("b", "t"));
    assert!(!built.offers("a", "missing"));
}

#[test]
fn unknown_names_resolve_to_nothing() {
    let built = catalog(&[server("a", tools(&["t"]))]);
    assert!(built.lookup("a__missing").is_none());
    assert!(built.lookup("t").is_none());
    assert_eq!(built.exposed_name("a", "missing"), None);
    assert_eq!(built.exposed_name("missing", "t"), None);
    assert_eq!(built.listed_for_server("missing").count(), 0);
}

#[test]
fn the_listing_is_sorted_by_exposed_name() {
    let built = catalog(&[
        server("zeta", tools(&["b", "a"])),
        server("Alpha", tools(&["z"])),
        server("mid", tools(&["a"])).tagged(&["g"]),
        server("mu", tools(&["c"])).tagged(&["g"]),
    ]);
    assert_eq!(
        listed_names(&built),
        [
            "Alpha__z",
            "broadcast__a",
            "broadcast__by_tag__g",
            "mid__a",
            "mu__c",
            "zeta__a",
            "zeta__b"
        ]
    );
    let per_server: Vec<&str> = built
        .listed_for_server("zeta")
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(per_server, ["zeta__a", "zeta__b"]);
}

#[test]
fn target_helpers_describe_the_target() {
    let direct = direct_target("s", "t");
    assert_eq!(direct.servers(), strings(&["s"]).as_slice());
    assert!(!direct.is_broadcast());
    let tag = Target::TagBroadcast {
        tag: "g".into(),
        servers: strings(&["a", "b"]),
        tools: Vec::new(),
    };
    assert!(tag.is_broadcast());
    assert_eq!(tag.servers().len(), 2);
    assert_eq!(tag.full_name(), "broadcast__by_tag__g");
    assert_eq!(direct_target("s", "a.b").full_name(), "s__a.b");
    let broadcast = Target::Broadcast {
        tool: "x y".into(),
        servers: strings(&["a", "b"]),
    };
    assert_eq!(broadcast.full_name(), "broadcast__x y");
}

#[test]
fn same_listing_holds_for_equal_inputs() {
    let servers = [
        server("a", tools(&["t"])).tagged(&["g"]),
        server("b", tools(&["t"])).tagged(&["g"]),
    ];
    assert!(catalog(&servers).same_listing(&catalog(&servers)));
}

#[test]
fn same_listing_sees_a_server_going_down() {
    let up = catalog(&[server("a", tools(&["t"])), server("b", tools(&["u"]))]);
    let down = catalog(&[
        server("a", tools(&["t"])),
        server("b", tools(&["u"])).down(),
    ]);
    assert!(!up.same_listing(&down));
    assert!(!down.same_listing(&up));
}

#[test]
fn same_listing_sees_a_changed_description_or_schema() {
    let before = catalog(&[server("a", tools(&["t"]))]);
    let described = catalog(&[server(
        "a",
        vec![Tool::new("t", "new text", query_schema())],
    )]);
    let reschema = catalog(&[server(
        "a",
        vec![Tool::new("t", "does t", schema(json!({})))],
    )]);
    assert!(!before.same_listing(&described));
    assert!(!before.same_listing(&reschema));
}

#[test]
fn same_listing_sees_a_broadcast_member_joining() {
    let two = catalog(&[
        server("a", tools(&["t"])),
        server("b", tools(&["t"])),
        server("c", tools(&["t"])).undiscovered(),
    ]);
    let three = catalog(&[
        server("a", tools(&["t"])),
        server("b", tools(&["t"])),
        server("c", tools(&["t"])).down(),
    ]);
    assert!(!two.same_listing(&three));
}

#[test]
fn same_listing_ignores_what_is_not_listed() {
    let before = catalog(&[
        server("a", tools(&["t"])),
        server("d", tools(&["x"])).down(),
    ]);
    let after = catalog(&[
        server("a", tools(&["t"])),
        server("d", tools(&["y"])).down(),
    ]);
    assert!(before.same_listing(&after));
    let never = catalog(&[
        server("a", tools(&["t"])),
        server("n", tools(&["x"])).undiscovered(),
    ]);
    let never_down = catalog(&[
        server("a", tools(&["t"])),
        server("n", tools(&["x"])).undiscovered().down(),
    ]);
    assert!(never.same_listing(&never_down));
    assert!(Catalog::empty().same_listing(&catalog(&[server("d", tools(&["x"])).down()])));
}

#[test]
fn same_listing_is_false_against_an_empty_catalog() {
    assert!(!catalog(&[server("a", tools(&["t"]))]).same_listing(&Catalog::empty()));
}

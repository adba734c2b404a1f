//! Exposed names: shortening of long names and collisions of every kind.

use super::*;

fn tool_of_total_length(server: &str, total: usize) -> String {
    "t".repeat(total - server.len() - 2)
}

#[test]
fn a_name_of_exactly_64_characters_is_kept() {
    let name = tool_of_total_length("srv", 64);
    let built = catalog(&[server("srv", tools(&[&name]))]);
    let exposed = built.exposed_name("srv", &name).expect("exposed");
    assert_eq!(exposed, format!("srv__{name}"));
    assert_eq!(exposed.len(), 64);
}

#[test]
fn a_name_of_65_characters_becomes_55_characters_and_a_hash() {
    let name = tool_of_total_length("srv", 65);
    let built = catalog(&[server("srv", tools(&[&name]))]);
    let exposed = built.exposed_name("srv", &name).expect("exposed");
    let full = format!("srv__{name}");
    assert_eq!(exposed.len(), 64);
    assert_eq!(exposed, format!("{}_{}", &full[..55], name_hash(&full)));
    assert_eq!(
        built.lookup(exposed).expect("entry").target,
        direct_target("srv", &name)
    );
    assert_eq!(built.lookup(exposed).expect("entry").tool.name, exposed);
    // Authorization still sees the unshortened name.
    assert_eq!(
        built.lookup(exposed).expect("entry").target.full_name(),
        full
    );
}

#[test]
fn a_name_of_200_characters_is_shortened_from_its_unsanitized_full_name() {
    let name = format!("{}.x", "t".repeat(198));
    let built = catalog(&[server("srv", tools(&[&name]))]);
    let exposed = built.exposed_name("srv", &name).expect("exposed");
    assert_eq!(exposed.len(), 64);
    assert!(exposed.starts_with("srv__ttt"));
    assert!(exposed.ends_with(&format!("_{}", name_hash(&format!("srv__{name}")))));
}

#[test]
fn a_custom_maximum_is_honoured() {
    let name = tool_of_total_length("srv", 65);
    let short = catalog_max(&[server("srv", tools(&[&name, "ok"]))], 32);
    assert_eq!(short.exposed_name("srv", &name).expect("long").len(), 32);
    assert_eq!(short.exposed_name("srv", "ok"), Some("srv__ok"));
    let long = catalog_max(&[server("srv", tools(&[&name]))], 128);
    assert_eq!(
        long.exposed_name("srv", &name),
        Some(format!("srv__{name}").as_str())
    );
}

#[test]
fn long_names_sharing_their_first_55_characters_stay_distinct() {
    let base = "q".repeat(70);
    let one = format!("{base}_one");
    let two = format!("{base}_two");
    let built = catalog(&[server("srv", tools(&[&one, &two]))]);
    let a = built.exposed_name("srv", &one).expect("one");
    let b = built.exposed_name("srv", &two).expect("two");
    assert_ne!(a, b);
    assert_eq!(a[..55], b[..55]);
}

#[test]
fn a_tiny_maximum_never_panics_and_keeps_names_unique() {
    let built = catalog_max(
        &[
            server("srv", tools(&["alpha", "beta", "gamma"])),
            server("x", tools(&["alpha"])),
        ],
        0,
    );
    let names = all_names(&built);
    assert!(names.iter().all(|name| name.len() <= MIN_MAX_NAME_LEN));
    assert_eq!(names.iter().collect::<HashSet<_>>().len(), names.len());
}

#[test]
fn broadcast_names_are_shortened_too() {
    let name = "b".repeat(80);
    let built = catalog(&[server("x", tools(&[&name])), server("y", tools(&[&name]))]);
    let broadcast = built
        .iter()
        .find(|entry| matches!(entry.target, Target::Broadcast { .. }))
        .expect("broadcast");
    assert_eq!(broadcast.name.len(), 64);
    let full = format!("broadcast__{name}");
    assert_eq!(
        broadcast.name,
        format!("{}_{}", &full[..55], name_hash(&full))
    );
}

#[test]
fn names_colliding_after_sanitizing_both_take_the_hash_suffix() {
    let built = catalog(&[server("srv", tools(&["a.b", "a_b", "c"]))]);
    let dotted = built.exposed_name("srv", "a.b").expect("a.b");
    let plain = built.exposed_name("srv", "a_b").expect("a_b");
    assert_eq!(dotted, format!("srv__a_b_{}", name_hash("srv__a.b")));
    assert_eq!(plain, format!("srv__a_b_{}", name_hash("srv__a_b")));
    assert!(built.lookup("srv__a_b").is_none());
    assert_eq!(built.exposed_name("srv", "c"), Some("srv__c"));
}

#[test]
fn colliding_long_names_are_suffixed_and_fit() {
    let base = "z".repeat(60);
    let built = catalog(&[server(
        "srv",
        tools(&[&format!("{base}.k"), &format!("{base}_k")]),
    )]);
    let names = all_names(&built);
    assert_eq!(names.len(), 2);
    assert!(names.iter().all(|name| name.len() == 64));
    assert_ne!(names[0], names[1]);
}

#[test]
fn broadcast_names_colliding_after_sanitizing_are_both_suffixed() {
    let built = catalog(&[
        server("p", tools(&["a.b"])),
        server("q", tools(&["a.b"])),
        server("r", tools(&["a_b"])),
        server("s", tools(&["a_b"])),
    ]);
    let broadcasts: Vec<&ExposedTool> = built
        .iter()
        .filter(|entry| matches!(entry.target, Target::Broadcast { .. }))
        .collect();
    assert_eq!(broadcasts.len(), 2);
    let names: HashSet<String> = broadcasts.iter().map(|entry| entry.name.clone()).collect();
    let expected: HashSet<String> = [
        format!("broadcast__a_b_{}", name_hash("broadcast__a.b")),
        format!("broadcast__a_b_{}", name_hash("broadcast__a_b")),
    ]
    .into_iter()
    .collect();
    assert_eq!(names, expected);
}

#[test]
fn a_direct_name_equal_to_a_broadcast_name_does_not_shadow_it() {
    // Server `broadcast_` with tool `tool` and the broadcast of `_tool` both ask for
    // `broadcast___tool`, and their full names are equal too.
    let built = catalog(&[
        server("broadcast_", tools(&["tool"])),
        server("a", tools(&["_tool"])),
        server("b", tools(&["_tool"])),
    ]);
    assert!(built.lookup("broadcast___tool").is_none());
    let direct = built.exposed_name("broadcast_", "tool").expect("direct");
    let broadcast = built
        .iter()
        .find(|entry| matches!(entry.target, Target::Broadcast { .. }))
        .expect("broadcast");
    assert_ne!(direct, broadcast.name);
    assert!(direct.starts_with("broadcast___tool_"));
    assert!(broadcast.name.starts_with("broadcast___tool_"));
    assert_eq!(
        built.lookup(direct).expect("direct").target,
        direct_target("broadcast_", "tool")
    );
    assert_eq!(
        built.lookup(&broadcast.name).expect("broadcast").target,
        Target::Broadcast {
            tool: "_tool".into(),
            servers: strings(&["a", "b"])
        }
    );
}

#[test]
fn a_broadcast_name_equal_to_a_tag_broadcast_name_does_not_shadow_it() {
    let built = catalog(&[
        server("a", tools(&["by_tag__x"])).tagged(&["x"]),
        server("b", tools(&["by_tag__x"])).tagged(&["x"]),
    ]);
    assert!(built.lookup("broadcast__by_tag__x").is_none());
    let broadcasts: Vec<&ExposedTool> = built
        .iter()
        .filter(|entry| entry.target.is_broadcast())
        .collect();
    assert_eq!(broadcasts.len(), 2);
    assert_ne!(broadcasts[0].name, broadcasts[1].name);
    assert!(
        broadcasts
            .iter()
            .all(|entry| entry.name.starts_with("broadcast__by_tag__x_"))
    );
}

#[test]
fn every_name_is_unique_and_fits_in_a_crowded_catalog() {
    let odd = [
        "a.b",
        "a_b",
        "a-b",
        "a b",
        "A.B",
        "日本",
        "__",
        "_",
        "",
        "x".repeat(90).as_str(),
    ]
    .map(str::to_owned);
    let mut servers = Vec::new();
    for (i, name) in ["s", "s_", "s-1", "broadcast_", "by_tag", "t"]
        .iter()
        .enumerate()
    {
        let names: Vec<&str> = odd.iter().map(String::as_str).collect();
        let tags: Vec<&str> = if i % 2 == 0 {
            vec!["x-y", "x_y"]
        } else {
            vec!["x.y"]
        };
        servers.push(server(name, tools(&names)).tagged(&tags));
    }
    for max in [DEFAULT_MAX_NAME_LEN, 20, 12, 9] {
        let built = catalog_max(&servers, max);
        let names = all_names(&built);
        assert_eq!(
            names.iter().collect::<HashSet<_>>().len(),
            names.len(),
            "max {max}"
        );
        assert!(
            names.iter().all(|name| name.chars().count() <= max),
            "max {max}"
        );
        for entry in built.iter() {
            assert_eq!(built.lookup(&entry.name), Some(entry));
        }
    }
}

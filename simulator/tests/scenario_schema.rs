//! The JSON Schema editors use to complete scenario files (`pxelab schema`).

use pxelab_simulator::scenario::{bundled, schema};
use serde_json::Value;

#[test]
fn schema_describes_the_file_as_written() {
    let s = schema();
    assert_eq!(s["type"], "object");
    assert_eq!(
        s["additionalProperties"], false,
        "unknown top-level keys are errors"
    );
    let props = s["properties"].as_object().expect("top-level properties");
    let mut keys: Vec<&str> = props.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "deployment",
            "description",
            "duration_s",
            "expect",
            "fault",
            "fleet",
            "name",
            "seed",
            "segment",
            "server",
            "summary"
        ]
    );
    let required: Vec<&str> = s["required"]
        .as_array()
        .expect("required list")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(required, ["name", "summary"]);
}

#[test]
fn server_table_is_flat_with_the_reference_config_inside() {
    let s = schema();
    let server = &s["$defs"]["Server"];
    assert_eq!(server["additionalProperties"], false);
    for key in [
        "kind",
        "mode",
        "pool",
        "dhcp",
        "boot",
        "router",
        "bios_file",
        "ignore_fleets",
        "file",
    ] {
        assert!(
            server["properties"].get(key).is_some(),
            "server.{key} missing from the schema"
        );
    }
    // The reference server's tables are exactly those of `pxelab serve --config`.
    let dhcp = &s["$defs"]["DhcpSettings"];
    assert!(dhcp["properties"].get("reservations").is_some());
    assert!(
        s["$defs"]["BootPolicy"]["properties"]
            .get("boot_ipxe")
            .is_some()
    );
}

/// Every key each bundled scenario uses at the top level and in its tables is a
/// property the schema lists, so an editor would not flag a shipped file.
#[test]
fn bundled_scenarios_use_only_keys_the_schema_knows() {
    let s = schema();
    let defs = &s["$defs"];
    let table_def = [
        ("segment", "Segment"),
        ("server", "Server"),
        ("fleet", "Fleet"),
        ("fault", "Fault"),
        ("expect", "Expect"),
    ];
    for b in bundled() {
        let doc: toml::Table = toml::from_str(b.source).expect("bundled file is TOML");
        for (key, value) in &doc {
            assert!(
                s["properties"].get(key).is_some(),
                "{}: top-level {key}",
                b.name
            );
            let Some((_, def)) = table_def.iter().find(|(k, _)| k == key) else {
                continue;
            };
            for entry in value.as_array().expect("array of tables") {
                for k in entry.as_table().expect("table").keys() {
                    assert!(
                        defs[def]["properties"].get(k).is_some(),
                        "{}: {key}.{k} is not in the schema's {def}",
                        b.name
                    );
                }
            }
        }
    }
}

#[test]
fn schema_snapshot() {
    let pretty = serde_json::to_string_pretty(&schema()).expect("schema serialises");
    insta::assert_snapshot!(pretty);
}

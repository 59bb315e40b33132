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
        ("deployment", "Deployment"),
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

/// The deployment plane's tables are described for editors: every key with a
/// description, the optional ones with the default `check` applies, and the
/// key dependencies the checker enforces stated as schema rules.
#[test]
fn deployment_tables_have_descriptions_and_defaults() {
    let s = schema();
    let defs = &s["$defs"];
    let has = |def: &str, key: &str| {
        let p = &defs[def]["properties"][key];
        assert!(
            p["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{def}.{key} has no description"
        );
        p.clone()
    };
    for (def, key, default) in [
        ("Deployment", "mode", Some(serde_json::json!("reference"))),
        ("Deployment", "trust_uuid", Some(serde_json::json!(false))),
        ("Deployment", "max_attempts", Some(serde_json::json!(3))),
        ("Deployment", "transfer", Some(serde_json::json!("unicast"))),
        ("Multicast", "min_receivers", Some(serde_json::json!(1))),
        ("Multicast", "max_wait_s", Some(serde_json::json!(60))),
        ("Fleet", "registered", Some(serde_json::json!(true))),
        ("Fleet", "share_access", Some(serde_json::json!(true))),
        ("Fleet", "boot_order", Some(serde_json::json!("network"))),
        ("Fleet", "bootworks", Some(serde_json::json!("partition"))),
        ("Fleet", "disk_gib", Some(serde_json::json!(40))),
        ("Fleet", "os_boot_s", Some(serde_json::json!(40))),
        ("Fleet", "reboot_s", Some(serde_json::json!(30))),
        ("Fleet", "bootworks_boot_s", Some(serde_json::json!(15))),
        ("Fleet", "deployment", None),
        ("Fleet", "os", None),
        ("Deployment", "name", None),
        ("Deployment", "server", None),
        ("Deployment", "multicast", None),
        ("Deployment", "initial_deployment", None),
        ("Deployment", "image", None),
        ("Deployment", "job", None),
        ("Image", "name", None),
        ("Image", "size_mib", None),
        ("Job", "fleet", None),
        ("Job", "kind", None),
        ("Job", "image", None),
        ("Job", "os", None),
        ("Job", "script", None),
        ("Job", "post_name", None),
        ("InitialDeployment", "kind", None),
        ("Expect", "jobs_succeeded", None),
        ("Expect", "jobs_failed", None),
        ("Expect", "jobs_refused", None),
        ("Expect", "imaged", None),
        ("Expect", "registered", None),
        ("Expect", "looping", None),
    ] {
        let p = has(def, key);
        assert_eq!(p.get("default"), default.as_ref(), "{def}.{key} default");
    }
    // initial_deployment has no fleet and no post_name: the machine is unknown.
    assert!(
        defs["InitialDeployment"]["properties"]
            .get("fleet")
            .is_none()
    );
    assert!(
        defs["InitialDeployment"]["properties"]
            .get("post_name")
            .is_none()
    );
    assert_eq!(
        defs["Fleet"]["dependentRequired"]["disk_gib"],
        serde_json::json!(["deployment"])
    );
    assert_eq!(
        defs["Expect"]["dependentRequired"]["imaged"],
        serde_json::json!(["fleet"])
    );
    let findings: Vec<&str> = defs["FindingKind"]["oneOf"]
        .as_array()
        .expect("finding kinds")
        .iter()
        .filter_map(|v| v["const"].as_str())
        .collect();
    assert!(findings.contains(&"job-refused") && findings.contains(&"wrong-computer"));
}

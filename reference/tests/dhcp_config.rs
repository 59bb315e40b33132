//! The user-facing DHCP configuration: TOML with defaults, unknown fields rejected.

use std::net::Ipv4Addr;

use pxelab_reference::Mac;
use pxelab_reference::dhcp::{DhcpSettings, PoolConfig};

#[test]
fn settings_deserialise_with_defaults() {
    let s: DhcpSettings = toml::from_str(
        r#"
        lease_time_secs = 600
        respond_delay_ms = 250
        deny = ["52:54:00:00:00:02"]
        [[reservations]]
        mac = "52:54:00:00:00:01"
        ip = "192.168.50.10"
        boot_file = "special.kpxe"
        [[pools]]
        first = "10.20.0.50"
        last = "10.20.0.60"
        netmask = "255.255.255.0"
        router = "10.20.0.1"
        "#,
    )
    .unwrap();
    assert_eq!(s.lease_time_secs, 600);
    assert_eq!(s.offer_hold_secs, 60, "default");
    assert_eq!(s.respond_delay().as_millis(), 250);
    assert_eq!(s.deny, vec![Mac([0x52, 0x54, 0, 0, 0, 2])]);
    assert_eq!(s.reservations[0].ip, Ipv4Addr::new(192, 168, 50, 10));
    assert_eq!(s.reservations[0].boot_file.as_deref(), Some("special.kpxe"));
    assert_eq!(s.pools[0].router, Some(Ipv4Addr::new(10, 20, 0, 1)));
    assert_eq!(
        toml::from_str::<DhcpSettings>("").unwrap(),
        DhcpSettings::default()
    );
}

#[test]
fn mistakes_are_errors_that_name_the_field() {
    let err = toml::from_str::<DhcpSettings>("lease_tme_secs = 5")
        .unwrap_err()
        .to_string();
    assert!(err.contains("lease_tme_secs"), "{err}");
    let err = toml::from_str::<DhcpSettings>("allow = [\"52:54:00\"]")
        .unwrap_err()
        .to_string();
    assert!(err.contains("52:54:00"), "{err}");
    let err = toml::from_str::<DhcpSettings>(
        "[[reservations]]\nmac = \"52:54:00:00:00:01\"\nip = \"1.2.3.4\"\nfile = \"x\"",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("file"), "{err}");
}

#[test]
fn range_flag_parses() {
    let p: PoolConfig = "10.0.0.100-10.0.0.199".parse().unwrap();
    assert_eq!(
        (p.first, p.last),
        (Ipv4Addr::new(10, 0, 0, 100), Ipv4Addr::new(10, 0, 0, 199))
    );
    for bad in ["10.0.0.5", "10.0.0.9-10.0.0.1", "a-b", "10.0.0.1-"] {
        let err = bad.parse::<PoolConfig>().unwrap_err().to_string();
        assert!(err.contains("FIRST-LAST"), "{err}");
    }
}

#[test]
fn inconsistent_configurations_are_refused_with_the_reason() {
    use pxelab_reference::Instant;
    use pxelab_reference::dhcp::{DhcpConfig, DhcpMode, DhcpServer, MemoryStore, Reservation};
    use pxelab_reference::pxe::BootPolicy;
    let cfg = |pools: Vec<PoolConfig>, reservations: Vec<Reservation>| DhcpConfig {
        server_addr: Ipv4Addr::new(192, 168, 50, 1),
        netmask: Ipv4Addr::new(255, 255, 255, 0),
        mode: DhcpMode::Full { pools },
        settings: DhcpSettings {
            reservations,
            ..DhcpSettings::default()
        },
        boot: BootPolicy::default(),
        unix_time_at_start: 0,
    };
    let start = |c| {
        DhcpServer::new(c, Box::new(MemoryStore::new()), Instant::ZERO)
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    assert!(start(cfg(vec![], vec![])).contains("--range"));
    let across = "192.168.50.10-192.168.51.10".parse().unwrap();
    assert!(start(cfg(vec![across], vec![])).contains("not inside one subnet"));
    let pool: PoolConfig = "192.168.50.100-192.168.50.199".parse().unwrap();
    let outside = Reservation {
        mac: Mac([2, 0, 0, 0, 0, 1]),
        ip: Ipv4Addr::new(10, 0, 0, 1),
        boot_file: None,
    };
    assert!(
        start(cfg(vec![pool.clone()], vec![outside])).contains("not in the subnet of any pool")
    );
    let r = Reservation {
        mac: Mac([2, 0, 0, 0, 0, 1]),
        ip: Ipv4Addr::new(192, 168, 50, 5),
        boot_file: None,
    };
    let twice = Reservation {
        mac: Mac([2, 0, 0, 0, 0, 2]),
        ..r.clone()
    };
    assert!(start(cfg(vec![pool], vec![r, twice])).contains("duplicate reservation"));
}

#[test]
fn a_menu_too_large_for_option_43_is_refused() {
    use pxelab_reference::Instant;
    use pxelab_reference::dhcp::{DhcpConfig, DhcpMode, DhcpServer, MemoryStore};
    use pxelab_reference::pxe::{BootMenu, BootPolicy, MenuItem};
    let items = (0..20)
        .map(|i| MenuItem {
            item_type: 0x8000 + i,
            description: format!("Install image number {i}"),
            file: None,
        })
        .collect();
    let cfg = DhcpConfig {
        server_addr: Ipv4Addr::new(192, 168, 50, 1),
        netmask: Ipv4Addr::new(255, 255, 255, 0),
        mode: DhcpMode::Proxy,
        settings: DhcpSettings::default(),
        boot: BootPolicy {
            menu: Some(BootMenu {
                prompt: "p".into(),
                timeout_secs: 5,
                discovery_control: 3,
                items,
            }),
            ..BootPolicy::default()
        },
        unix_time_at_start: 0,
    };
    let err = DhcpServer::new(cfg, Box::new(MemoryStore::new()), Instant::ZERO)
        .unwrap_err()
        .to_string();
    assert!(err.contains("boot menu does not fit"), "{err}");
}

#[test]
fn the_documented_example_parses() {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        dhcp: DhcpSettings,
        boot: pxelab_reference::pxe::BootPolicy,
    }
    let doc = include_str!("../src/dhcp/mod.rs");
    let toml_text: String = doc
        .lines()
        .skip_while(|l| !l.starts_with("//! ```toml"))
        .skip(1)
        .take_while(|l| !l.starts_with("//! ```"))
        .map(|l| l.trim_start_matches("//!").trim_start_matches(' '))
        .collect::<Vec<_>>()
        .join("\n");
    let f: File = toml::from_str(&toml_text).unwrap();
    assert_eq!(f.dhcp.reservations.len(), 1);
    assert_eq!(f.boot.menu.unwrap().items[0].item_type, 0x8000);
    assert_eq!(f.boot.arch_overrides[0].arch, 11);
}

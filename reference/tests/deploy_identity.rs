//! Which computer a booting machine is: MAC first, untrusted UUIDs reported; and
//! the legacy UUID-first rule that images the wrong machine.

use pxelab_reference::deploy::{
    DeployConfig, DeployEventKind, DeploymentServer, JobKind, PreOsPath, ServerMode, SmbiosUuid,
    WarningKind,
};
use pxelab_reference::{Instant, Mac};

const T0: Instant = Instant::ZERO;

fn mac(last: u8) -> Mac {
    Mac([0x52, 0x54, 0x00, 0x00, 0x00, last])
}

fn uuid(b: u8) -> SmbiosUuid {
    SmbiosUuid([b, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15])
}

fn server(mode: ServerMode) -> DeploymentServer {
    DeploymentServer::new(DeployConfig {
        mode,
        ..DeployConfig::default()
    })
}

#[test]
fn a_known_mac_with_a_good_uuid_is_matched_without_warning() {
    let mut s = server(ServerMode::Reference);
    let a = s.register(T0, mac(1), Some(uuid(0xaa)), "lab-01");
    let id = s.identify(Instant::from_secs(1), mac(1), Some(uuid(0xaa)));
    assert_eq!(id.computer, Some(a));
    assert!(id.warnings.is_empty());
    assert!(s.computers().warnings().is_empty());
}

#[test]
fn an_unknown_mac_is_unknown_even_with_a_known_uuid() {
    // A UUID another MAC already has is not trusted, so it cannot claim a computer.
    let mut s = server(ServerMode::Reference);
    let a = s.register(T0, mac(1), Some(uuid(0xaa)), "lab-01");
    let id = s.identify(T0, mac(2), Some(uuid(0xaa)));
    assert_eq!(id.computer, None);
    assert_eq!(id.warnings.len(), 1);
    assert_eq!(id.warnings[0].kind, WarningKind::SharedUuid { other: a });
}

#[test]
fn zero_and_ff_uuids_are_matched_by_mac_with_a_warning() {
    let mut s = server(ServerMode::Reference);
    let a = s.register(T0, mac(1), Some(SmbiosUuid([0; 16])), "zero");
    let b = s.register(T0, mac(2), Some(SmbiosUuid([0xff; 16])), "ff");
    // Both zero-UUID and FF-UUID machines boot again: each is itself, by MAC.
    let ia = s.identify(Instant::from_secs(5), mac(1), Some(SmbiosUuid([0; 16])));
    let ib = s.identify(Instant::from_secs(5), mac(2), Some(SmbiosUuid([0xff; 16])));
    assert_eq!(ia.computer, Some(a));
    assert_eq!(ib.computer, Some(b));
    assert_eq!(ia.warnings[0].kind, WarningKind::ZeroUuid);
    assert_eq!(ib.warnings[0].kind, WarningKind::FfUuid);
    // A second zero-UUID machine is not "shared" noise: it is a zero UUID.
    let c = s.register(T0, mac(3), Some(SmbiosUuid([0; 16])), "zero-too");
    let ic = s.identify(T0, mac(3), Some(SmbiosUuid([0; 16])));
    assert_eq!(ic.computer, Some(c));
    assert_eq!(ic.warnings[0].kind, WarningKind::ZeroUuid);
}

#[test]
fn warnings_are_recorded_once_and_reported_as_events_once() {
    let mut s = server(ServerMode::Reference);
    s.register(T0, mac(1), Some(SmbiosUuid([0; 16])), "zero");
    for secs in 1..5 {
        let id = s.identify(Instant::from_secs(secs), mac(1), Some(SmbiosUuid([0; 16])));
        assert_eq!(
            id.warnings.len(),
            1,
            "every identification carries its warnings"
        );
    }
    assert_eq!(s.computers().warnings().len(), 1);
    assert_eq!(s.computers().warnings()[0].at, T0);
    let warning_events = std::iter::from_fn(|| s.poll_event())
        .filter(|e| matches!(e.kind, DeployEventKind::IdentityWarning(_)))
        .count();
    assert_eq!(warning_events, 1);
}

#[test]
fn registering_a_known_mac_returns_the_same_computer() {
    let mut s = server(ServerMode::Reference);
    let a = s.register(T0, mac(1), None, "lab-01");
    let again = s.register(Instant::from_secs(3), mac(1), Some(uuid(1)), "other-name");
    assert_eq!(a, again);
    assert_eq!(s.computers().len(), 1);
    assert_eq!(
        s.computers().get(a).map(|c| c.name.as_str()),
        Some("lab-01")
    );
}

/// Two machines share a UUID (cloned boards). The job is for desk-01; desk-02
/// PXE-boots and asks for work. Legacy (UUID first) takes desk-02 for desk-01 and
/// hands it desk-01's job: the wrong disk is imaged, as the Deployment Server 7.1
/// KB describes. Reference matches desk-02 by its MAC, gives it nothing, and warns.
/// Returns whether desk-02 got the job, and the warnings of its identification.
fn duplicate_uuid_job_goes_to(mode: ServerMode) -> (bool, Vec<WarningKind>) {
    let mut s = server(mode);
    s.add_image(pxelab_reference::deploy::Image {
        name: "xp-sysprep".into(),
        size: 1 << 20,
        sha256: [7; 32],
    })
    .expect("empty store");
    let first = s.register(T0, mac(1), Some(uuid(0x42)), "desk-01");
    let second = s.register(T0, mac(2), Some(uuid(0x42)), "desk-02");
    s.set_pre_os(first, PreOsPath::PxeBootworks).expect("known");
    s.set_pre_os(second, PreOsPath::PxeBootworks)
        .expect("known");
    let job = s
        .schedule(
            T0,
            first,
            JobKind::DeployImage {
                image: "xp-sysprep".into(),
            },
        )
        .expect("schedulable");
    // desk-02 PXE-boots and asks for its work.
    let who = s.identify(Instant::from_secs(10), mac(2), Some(uuid(0x42)));
    let gets_job = who
        .computer
        .and_then(|c| s.next_job_for(c))
        .map(|j| j.id == job)
        .unwrap_or(false);
    let kinds = who.warnings.iter().map(|w| w.kind).collect();
    (gets_job, kinds)
}

#[test]
fn duplicate_uuid_legacy_images_the_wrong_machine_reference_does_not() {
    let (legacy, legacy_warnings) =
        duplicate_uuid_job_goes_to(ServerMode::Legacy { trust_uuid: true });
    assert!(legacy, "legacy hands desk-01's job to desk-02");
    // The fact is still on record in legacy mode; legacy just does not act on it.
    assert!(matches!(
        legacy_warnings.as_slice(),
        [WarningKind::SharedUuid { .. }]
    ));

    let (reference, reference_warnings) = duplicate_uuid_job_goes_to(ServerMode::Reference);
    assert!(!reference, "reference keeps desk-01's job for desk-01");
    assert!(matches!(
        reference_warnings.as_slice(),
        [WarningKind::SharedUuid { .. }]
    ));
}

#[test]
fn the_right_machine_gets_its_job_in_reference_mode() {
    let mut s = server(ServerMode::Reference);
    let first = s.register(T0, mac(1), Some(uuid(0x42)), "desk-01");
    let second = s.register(T0, mac(2), Some(uuid(0x42)), "desk-02");
    let job = s
        .schedule(
            T0,
            second,
            JobKind::RunScript {
                script: "inventory".into(),
            },
        )
        .expect("no pre-OS needed");
    let who = s.identify(Instant::from_secs(10), mac(2), Some(uuid(0x42)));
    assert_eq!(who.computer, Some(second));
    assert_eq!(s.next_job_for(second).map(|j| j.id), Some(job));
    assert!(s.next_job_for(first).is_none());
    // desk-02 was registered with desk-01's UUID: that is a shared-UUID warning.
    assert_eq!(
        s.computers().warnings()[0].kind,
        WarningKind::SharedUuid { other: first }
    );
}

#[test]
fn legacy_without_trust_uuid_matches_by_mac() {
    let (imaged, _) = duplicate_uuid_job_goes_to(ServerMode::Legacy { trust_uuid: false });
    assert!(!imaged);
}

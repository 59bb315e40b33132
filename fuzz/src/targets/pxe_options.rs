//! The PXE typed views on arbitrary option payloads: 43 (PXE vendor
//! sub-options), 60 (client class), 93 (architectures), 77 (user class), 175
//! (iPXE).
//!
//! Checks, beyond "never panics": each view re-emits what it parsed. Option 43's
//! emit is canonical (sub-options sorted by code, END appended), so there the
//! check is a fix point after one round; the others emit exactly the input.

use pxelab_reference::wire::ParseMode;
use pxelab_reference::wire::pxe::{
    IpxeOptions, PxeClientClass, PxeVendorOptions, UserClass, emit_arch_list, parse_arch_list,
};

/// The `pxe_options` target's body, shared by the libFuzzer binary and the smoke runner.
pub fn pxe_options(data: &[u8]) {
    vendor_options(data);

    if let Ok(class) = PxeClientClass::parse(data) {
        assert_eq!(class.emit(), data, "option 60 does not re-emit as received");
    }

    if let Ok(arches) = parse_arch_list(data) {
        assert_eq!(emit_arch_list(&arches), data, "option 93 does not re-emit");
    }

    let user_class = UserClass::parse(data);
    let _ = user_class.is_ipxe();
    match user_class.emit() {
        Ok(bytes) => assert_eq!(bytes, data, "option 77 does not re-emit as received"),
        Err(e) => panic!("a parsed option 77 does not emit: {e}"),
    }

    if let Ok(ipxe) = IpxeOptions::parse(data) {
        let _ = (ipxe.priority(), ipxe.no_pxedhcp());
        let bytes = match ipxe.emit() {
            Ok(bytes) => bytes,
            Err(e) => panic!("a parsed option 175 does not emit: {e}"),
        };
        assert_eq!(
            IpxeOptions::parse(&bytes).ok(),
            Some(ipxe),
            "option 175 round trip"
        );
    }
}

fn vendor_options(data: &[u8]) {
    for mode in [ParseMode::Strict, ParseMode::Lax] {
        let Ok(o1) = PxeVendorOptions::parse(data, mode) else {
            continue;
        };
        // Every sub-option came in under a one-byte length, so it fits again.
        let e1 = match o1.emit() {
            Ok(e1) => e1,
            Err(e) => panic!("a {mode:?}-parsed option 43 does not emit: {e}"),
        };
        let o2 = match PxeVendorOptions::parse(&e1, ParseMode::Lax) {
            Ok(o2) => o2,
            Err(e) => panic!("emitted option 43 does not re-parse: {e}"),
        };
        // A strict parse only keeps well-formed sub-options, so what it emits
        // must pass strict mode again.
        if mode == ParseMode::Strict {
            assert_eq!(
                PxeVendorOptions::parse(&e1, ParseMode::Strict).as_ref(),
                Ok(&o2),
                "emit of a strict-valid option 43 is not strict-valid"
            );
        }
        let e2 = o2.emit().expect("re-parsed option 43 emits");
        assert_eq!(e2, e1, "option 43 emit is not a fix point ({mode:?})");
        assert_eq!(
            PxeVendorOptions::parse(&e2, ParseMode::Lax).as_ref(),
            Ok(&o2),
            "option 43 parse is not a fix point ({mode:?})"
        );
        // Nothing on the wire is lost: the same known fields come back.
        assert_eq!(
            (
                o2.mtftp_ip,
                o2.discovery_control,
                &o2.boot_servers,
                &o2.boot_menu
            ),
            (
                o1.mtftp_ip,
                o1.discovery_control,
                &o1.boot_servers,
                &o1.boot_menu
            ),
        );
        assert_eq!(
            (&o2.menu_prompt, o2.boot_item),
            (&o1.menu_prompt, o1.boot_item)
        );
        assert_eq!(o2.other.len(), o1.other.len(), "option 43 lost sub-options");
    }
}

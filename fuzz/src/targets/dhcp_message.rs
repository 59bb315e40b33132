//! `DhcpMessage::parse` on arbitrary bytes, in both modes.
//!
//! Checks, beyond "never panics":
//! - a parsed message re-emits to bytes that parse (lax) to the same message, and
//!   re-emitting that gives the same bytes (a fix point after one round: the
//!   codec keeps order, duplicates and split options, so nothing may drift);
//! - a message accepted in strict mode emits bytes strict mode accepts too (what
//!   the server sends must pass the conformance parser);
//! - `emit_within` (what a server does for a client's option 57) keeps every
//!   option and field;
//! - every accessor, including the PXE typed views, is total.

use pxelab_reference::pxe::ClientFacts;
use pxelab_reference::wire::ParseMode;
use pxelab_reference::wire::dhcp::DhcpMessage;

/// The `dhcp_message` target's body, shared by the libFuzzer binary and the smoke runner.
pub fn dhcp_message(data: &[u8]) {
    for mode in [ParseMode::Strict, ParseMode::Lax] {
        let Ok(m1) = DhcpMessage::parse(data, mode) else {
            continue;
        };
        accessors(&m1);

        let e1 = m1.emit();
        let m2 = match DhcpMessage::parse(&e1, ParseMode::Lax) {
            Ok(m2) => m2,
            Err(e) => panic!("emit of a {mode:?}-parsed message does not re-parse: {e}"),
        };
        assert_eq!(m2, m1, "parse(emit(m)) != m ({mode:?})");
        assert_eq!(m2.emit(), e1, "emit is not a fix point ({mode:?})");
        if mode == ParseMode::Strict
            && let Err(e) = DhcpMessage::parse(&e1, ParseMode::Strict)
        {
            panic!("emit of a strict-valid message is not strict-valid: {e}");
        }

        // What a server does to fit a reply into the client's option 57.
        for max in [576, usize::from(m1.max_message_size().unwrap_or(0)), 300] {
            let bytes = m1.emit_within(max);
            let m3 = match DhcpMessage::parse(&bytes, ParseMode::Lax) {
                Ok(m3) => m3,
                Err(e) => panic!("emit_within({max}) does not re-parse: {e}"),
            };
            assert_eq!(m3.options, m1.options, "emit_within({max}) lost options");
            assert_eq!((&m3.sname, &m3.file), (&m1.sname, &m1.file));
        }
    }
}

/// Every read-only view of a message; none may panic.
fn accessors(m: &DhcpMessage) {
    for code in [0, 1, 43, 52, 53, 60, 67, 77, 93, 97, 175, 255] {
        let _ = m.option(code);
        let _ = m.has_option(code);
    }
    let _ = m.message_type();
    let _ = m.client_mac();
    let _ = m.broadcast_flag();
    let _ = m.requested_ip();
    let _ = m.server_id();
    let _ = m.max_message_size();
    let _ = m.parameter_request_list();
    let _ = m.boot_file();
    if let Some(Ok(class)) = m.client_class() {
        let _ = class.to_string();
    }
    let _ = m.is_pxe_client();
    if let Some(Ok(arches)) = m.client_arches() {
        for a in arches {
            let _ = (a.to_string(), a.name(), a.is_bios(), a.is_efi_x64());
        }
    }
    let _ = m.client_ndi();
    if let Some(Ok(uuid)) = m.client_uuid() {
        let _ = (uuid.is_all_zero(), uuid.is_all_ff(), uuid.emit());
    }
    if let Some(uc) = m.user_class() {
        let _ = (uc.is_ipxe(), uc.emit());
    }
    let _ = m.is_ipxe();
    if let Some(Ok(ipxe)) = m.ipxe_options() {
        let _ = (ipxe.priority(), ipxe.no_pxedhcp(), ipxe.emit());
    }
    for mode in [ParseMode::Strict, ParseMode::Lax] {
        if let Some(Ok(v)) = m.pxe_vendor_options(mode) {
            let _ = v.emit();
        }
    }
    let facts = ClientFacts::from_message(m);
    let _ = (
        facts.is_pxe_client(),
        facts.is_http_client(),
        facts.is_uefi(),
    );
    let _ = format!("{m:?}");
    let _ = DhcpMessage::reply_to(m).emit();
}

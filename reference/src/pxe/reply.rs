//! Boot information shared by DHCP offers, ProxyDHCP offers and boot-server ACKs.

use std::net::{Ipv4Addr, SocketAddrV4};

use super::facts::ClientFacts;
use super::policy::{BootDecision, BootPolicy};
use crate::dhcp::{DhcpEventKind, IgnoreReason};
use crate::wire::ParseMode;
use crate::wire::dhcp::{CLIENT_PORT, DhcpMessage, MessageType, code};
use crate::wire::pxe::{
    self as wire_pxe, BootItem, BootServerEntry, DiscoveryControl, MenuItem as WireMenuItem,
    MenuPrompt, PxeError, PxeVendorOptions,
};
use crate::{Datagram, L2Dest, Mac, Transmit};

/// Whether the client's option 55 asks for `code`.
pub(crate) fn asks_for(req: &DhcpMessage, code: u8) -> bool {
    req.parameter_request_list()
        .is_some_and(|l| l.contains(&code))
}

/// `siaddr` = TFTP server, the `file` field, and option 67 when the client asked
/// for it (as dnsmasq does) or the name does not fit the 128-byte field. Option 67
/// is NUL-terminated because some PXE ROMs need it (dnsmasq's experience).
pub(crate) fn add_boot_file(
    reply: &mut DhcpMessage,
    req: &DhcpMessage,
    server: Ipv4Addr,
    file: &str,
) {
    reply.siaddr = server;
    let fits = file.len() < 128;
    if fits {
        reply.file = file.as_bytes().to_vec();
    }
    if !fits || asks_for(req, code::BOOTFILE_NAME) {
        let mut v = file.as_bytes().to_vec();
        v.push(0);
        reply.push_option(code::BOOTFILE_NAME, v);
    }
}

/// Option 60 `PXEClient` (a PXE server identifies itself by it, PXE 2.1;
/// iPXE ignores a second DHCP offer without it, quirk Q18) and option 97 echoed.
pub(crate) fn add_pxe_identity(reply: &mut DhcpMessage, facts: &ClientFacts) {
    let vc: &[u8] = if facts.is_http_client() {
        b"HTTPClient"
    } else {
        b"PXEClient"
    };
    reply.push_option(code::VENDOR_CLASS, vc);
    if let Some(uuid) = &facts.uuid_option {
        reply.push_option(code::CLIENT_UUID, uuid.clone());
    }
}

/// Option 43 with the configured menu: discovery control, this server for every
/// item type (type 0 is local boot and needs no server), the menu and the
/// prompt. An error when the menu does not fit one sub-option: a truncated menu
/// would boot the wrong thing.
pub(crate) fn menu_option43(
    policy: &BootPolicy,
    server: Ipv4Addr,
) -> Result<Option<Vec<u8>>, PxeError> {
    let Some(menu) = policy.menu.as_ref() else {
        return Ok(None);
    };
    let servers: Vec<BootServerEntry> = menu
        .items
        .iter()
        .filter(|i| i.item_type != 0)
        .map(|i| BootServerEntry {
            kind: i.item_type,
            addrs: vec![server],
        })
        .collect();
    let opts = PxeVendorOptions {
        discovery_control: Some(DiscoveryControl(menu.discovery_control)),
        boot_servers: (!servers.is_empty()).then_some(servers),
        boot_menu: Some(
            menu.items
                .iter()
                .map(|i| WireMenuItem {
                    kind: i.item_type,
                    description: i.description.as_bytes().to_vec(),
                })
                .collect(),
        ),
        menu_prompt: Some(MenuPrompt {
            timeout: menu.timeout_secs,
            prompt: menu.prompt.as_bytes().to_vec(),
        }),
        ..PxeVendorOptions::default()
    };
    opts.emit().map(Some)
}

/// The minimal PXE10 option 43 for a BIOS client: discovery control 8 ("boot the
/// `file` of this offer, no prompt, menu or discovery"), as pixiecore sends.
pub(crate) fn direct_boot_option43() -> Vec<u8> {
    // One one-byte sub-option cannot exceed any limit.
    [wire_pxe::sub::DISCOVERY_CONTROL, 1, 8, code::END].to_vec()
}

/// 43.71 PXE_BOOT_ITEM of a request, when its option 43 parses.
pub(crate) fn boot_item(req: &DhcpMessage) -> Option<BootItem> {
    req.pxe_vendor_options(ParseMode::Lax)?.ok()?.boot_item
}

/// The outcome of a boot-server request.
pub(crate) struct BootAnswer {
    pub(crate) reply: DhcpMessage,
    pub(crate) file: String,
    pub(crate) item: Option<(u16, u16)>,
}

/// Answers a boot-server DHCPREQUEST (UDP 4011, or a discovery broadcast to 67):
/// ACK, `yiaddr` 0, siaddr + file, 60, 97, and 43.71 echoed when asked.
pub(crate) fn boot_ack(
    policy: &BootPolicy,
    server: Ipv4Addr,
    reserved_file: Option<&str>,
    req: &DhcpMessage,
    facts: &ClientFacts,
) -> Result<BootAnswer, IgnoreReason> {
    if !facts.is_pxe_client() {
        return Err(IgnoreReason::NotPxeClient);
    }
    let item = boot_item(req);
    let decision = match item {
        Some(BootItem { layer, .. }) if layer & 0x8000 != 0 => {
            return Err(IgnoreReason::BisRequested);
        }
        Some(BootItem {
            kind: item_type, ..
        }) => policy
            .menu_item_file(item_type, facts)
            .ok_or(IgnoreReason::UnknownBootItem(item_type))?,
        None => match reserved_file {
            Some(f) if !facts.is_ipxe => BootDecision::Boot {
                file: f.to_string(),
                rule: super::BootRule::Reservation,
            },
            _ => policy.boot_file(facts),
        },
    };
    let file = match decision {
        BootDecision::Boot { file, .. } => file,
        BootDecision::NoBoot { arch } => return Err(IgnoreReason::NoBootFile(arch)),
    };
    let mut reply = DhcpMessage::reply_to(req);
    reply.push_option(code::MESSAGE_TYPE, [u8::from(MessageType::Ack)]);
    reply.push_option(code::SERVER_ID, server.octets());
    add_boot_file(&mut reply, req, server, &file);
    add_pxe_identity(&mut reply, facts);
    if let Some(it) = item {
        // Exactly the 43.71 the client sent, then END (PXE 2.1).
        let echo = PxeVendorOptions {
            boot_item: Some(it),
            ..PxeVendorOptions::default()
        };
        // A lone 43.71 is 7 bytes: it cannot exceed a limit.
        if let Ok(bytes) = echo.emit() {
            reply.push_option(code::VENDOR_SPECIFIC, bytes);
        }
    }
    Ok(BootAnswer {
        reply,
        file,
        item: item.map(|i| (i.kind, i.layer)),
    })
}

/// Where a boot-server ACK goes: back to the address and port the request came
/// from (the client has its address by now), broadcast when it came from 0.0.0.0.
pub(crate) fn to_requester(
    src_port: u16,
    dgram: &Datagram<'_>,
    req: &DhcpMessage,
    payload: Vec<u8>,
    from: Ipv4Addr,
) -> Transmit {
    let src = SocketAddrV4::new(from, src_port);
    let mac = req.client_mac().unwrap_or(dgram.src_mac);
    if !dgram.src.ip().is_unspecified() {
        return Transmit {
            src,
            dst: dgram.src,
            l2: l2_for(mac),
            payload,
        };
    }
    if !req.ciaddr.is_unspecified() {
        let port = if dgram.src.port() == 0 {
            CLIENT_PORT
        } else {
            dgram.src.port()
        };
        return Transmit {
            src,
            dst: SocketAddrV4::new(req.ciaddr, port),
            l2: l2_for(mac),
            payload,
        };
    }
    Transmit {
        src,
        dst: SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT),
        l2: L2Dest::Broadcast,
        payload,
    }
}

pub(crate) fn l2_for(mac: Mac) -> L2Dest {
    if mac == Mac::ZERO {
        L2Dest::Broadcast
    } else {
        L2Dest::Unicast(mac)
    }
}

/// Event kind for a boot ACK.
pub(crate) fn boot_ack_kind(item: Option<(u16, u16)>) -> DhcpEventKind {
    DhcpEventKind::BootAck { item }
}

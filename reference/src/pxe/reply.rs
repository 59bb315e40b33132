//! Boot information shared by DHCP offers, ProxyDHCP offers and boot-server ACKs.

use std::net::{Ipv4Addr, SocketAddrV4};

use super::facts::ClientFacts;
use super::option43::{self, BootItem, Builder};
use super::policy::{BootDecision, BootPolicy};
use crate::dhcp::{DhcpEventKind, IgnoreReason};
use crate::wire::dhcp::{CLIENT_PORT, DhcpMessage, MessageType, code};
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

/// Option 60 `PXEClient` (a PXE server identifies itself by it, PXE 2.1 §2.2.5;
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
/// item type, the menu and the prompt.
pub(crate) fn menu_option43(policy: &BootPolicy, server: Ipv4Addr) -> Option<Vec<u8>> {
    let menu = policy.menu.as_ref()?;
    let types: Vec<u16> = menu
        .items
        .iter()
        .map(|i| i.item_type)
        .filter(|t| *t != 0)
        .collect();
    let mut b = Builder::default();
    b.discovery_control(menu.discovery_control);
    if !types.is_empty() {
        b.boot_servers(&types, server);
    }
    b.boot_menu(
        menu.items
            .iter()
            .map(|i| (i.item_type, i.description.as_str())),
    )
    .menu_prompt(menu.timeout_secs, &menu.prompt);
    Some(b.finish())
}

/// The minimal PXE10 option 43 for a BIOS client: discovery control 8 ("boot the
/// `file` of this offer, no prompt, menu or discovery"), as pixiecore sends.
pub(crate) fn direct_boot_option43() -> Vec<u8> {
    Builder::default().discovery_control(8).finish()
}

/// Whether an option 43 payload carries 43.71 PXE_BOOT_ITEM.
pub(crate) fn has_boot_item(opt43: &[u8]) -> bool {
    option43::find_boot_item(opt43).is_some()
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
    let item = req
        .option(code::VENDOR_SPECIFIC)
        .and_then(|o| option43::find_boot_item(&o));
    let decision = match item {
        Some(BootItem { layer, .. }) if layer & 0x8000 != 0 => {
            return Err(IgnoreReason::BisRequested);
        }
        Some(BootItem { item_type, .. }) => policy
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
        reply.push_option(
            code::VENDOR_SPECIFIC,
            Builder::default().boot_item(it).finish(),
        );
    }
    Ok(BootAnswer {
        reply,
        file,
        item: item.map(|i| (i.item_type, i.layer)),
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

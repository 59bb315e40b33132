//! Offer classification and the selection rules of the profiles (research §2.3).
//!
//! Every offer is classified the way EDK2 does it (the finest split of the
//! three lineages): DHCP or proxy by `yiaddr`, PXE by option 60 `PXEClient`,
//! PXE10 / WfM11a / BINL by which option 43 sub-options it carries. The rules
//! then differ in what they keep and when they decide.

use std::fmt;
use std::net::Ipv4Addr;
use std::time::Duration;

use pxelab_reference::Instant;
use pxelab_reference::wire::ParseMode;
use pxelab_reference::wire::dhcp::{DhcpMessage, SERVER_PORT, code};
use pxelab_reference::wire::pxe::PxeVendorOptions;

use super::profile::{OfferRule, Profile};
use super::quirk::Quirk;

/// What kind of offer a client saw, in EDK2's terms (PxeBcDhcp4.c, R14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum OfferKind {
    /// An address and no `PXEClient`: plain DHCP (it may still name a file).
    DhcpOnly,
    /// An address with `PXEClient` and 43.6–10: PXE boot information included.
    DhcpPxe10,
    /// An address with `PXEClient` and the MTFTP sub-options 43.1–5.
    DhcpWfm11a,
    /// An address with `PXEClient` and no PXE10/WfM11a sub-option: ask on 4011.
    DhcpBinl,
    /// ProxyDHCP (`yiaddr` 0) with 43.6–10.
    ProxyPxe10,
    /// ProxyDHCP with 43.1–5.
    ProxyWfm11a,
    /// ProxyDHCP without PXE10 sub-options: the boot file comes from 4011.
    ProxyBinl,
    /// A BOOTP reply (no option 53).
    Bootp,
}

impl OfferKind {
    /// Whether the offer hands out an address.
    pub fn is_dhcp(self) -> bool {
        matches!(
            self,
            OfferKind::DhcpOnly
                | OfferKind::DhcpPxe10
                | OfferKind::DhcpWfm11a
                | OfferKind::DhcpBinl
                | OfferKind::Bootp
        )
    }

    /// Whether it is a ProxyDHCP offer.
    pub fn is_proxy(self) -> bool {
        matches!(
            self,
            OfferKind::ProxyPxe10 | OfferKind::ProxyWfm11a | OfferKind::ProxyBinl
        )
    }
}

impl fmt::Display for OfferKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OfferKind::DhcpOnly => "DhcpOnly",
            OfferKind::DhcpPxe10 => "PXE10",
            OfferKind::DhcpWfm11a => "WfM11a",
            OfferKind::DhcpBinl => "BINL",
            OfferKind::ProxyPxe10 => "Proxy PXE10",
            OfferKind::ProxyWfm11a => "Proxy WfM11a",
            OfferKind::ProxyBinl => "Proxy BINL",
            OfferKind::Bootp => "BOOTP",
        })
    }
}

/// An offer as the client keeps it.
#[derive(Debug, Clone)]
pub(crate) struct Offer {
    pub(crate) msg: DhcpMessage,
    /// Option 54, else the sender's address.
    pub(crate) server: Ipv4Addr,
    pub(crate) kind: OfferKind,
    pub(crate) at: Instant,
    /// UDP source port (iPXE counts only offers from 67 as DHCP offers).
    pub(crate) src_port: u16,
    /// Option 43 when the offer is `PXEClient` and it parses.
    pub(crate) vendor: Option<PxeVendorOptions>,
}

/// Classifies an offer; `None` for a reply the client cannot use at all (a
/// "proxy" offer without `PXEClient`, or a BOOTP reply without a file), which
/// EDK2 drops.
pub(crate) fn classify(msg: &DhcpMessage) -> Option<OfferKind> {
    let pxe = msg.is_pxe_client();
    let proxy = msg.yiaddr.is_unspecified();
    if msg.message_type().is_none() {
        return (!proxy && msg.boot_file().is_some()).then_some(OfferKind::Bootp);
    }
    if proxy && !pxe {
        return None;
    }
    if !pxe {
        return Some(OfferKind::DhcpOnly);
    }
    let vendor = vendor_options(msg);
    let pxe10 = vendor.as_ref().is_some_and(|v| {
        v.discovery_control.is_some()
            || v.discovery_mcast_addr.is_some()
            || v.boot_servers.is_some()
            || v.boot_menu.is_some()
            || v.menu_prompt.is_some()
    });
    let wfm = vendor.as_ref().is_some_and(|v| {
        v.mtftp_ip.is_some()
            && v.mtftp_cport.is_some()
            && v.mtftp_sport.is_some()
            && v.mtftp_tmout.is_some()
            && v.mtftp_delay.is_some()
    });
    Some(match (proxy, pxe10, wfm) {
        (false, true, _) => OfferKind::DhcpPxe10,
        (false, false, true) => OfferKind::DhcpWfm11a,
        (false, false, false) => OfferKind::DhcpBinl,
        (true, true, _) => OfferKind::ProxyPxe10,
        (true, false, true) => OfferKind::ProxyWfm11a,
        (true, false, false) => OfferKind::ProxyBinl,
    })
}

/// Option 43 of a `PXEClient` message, read leniently (a ROM uses what it can).
pub(crate) fn vendor_options(msg: &DhcpMessage) -> Option<PxeVendorOptions> {
    if !msg.is_pxe_client() {
        return None;
    }
    msg.pxe_vendor_options(ParseMode::Lax)?.ok()
}

impl Offer {
    pub(crate) fn new(
        msg: DhcpMessage,
        kind: OfferKind,
        src: Ipv4Addr,
        src_port: u16,
        at: Instant,
    ) -> Self {
        let server = msg.server_id().unwrap_or(src);
        let vendor = vendor_options(&msg);
        Offer {
            msg,
            server,
            kind,
            at,
            src_port,
            vendor,
        }
    }

    /// The boot file name: option 67 wins over `file` (EDK2, research §2.3).
    pub(crate) fn boot_file(&self) -> Option<String> {
        boot_file(&self.msg)
    }

    /// Where a 4011 request for this offer goes: `siaddr`, else option 54 (§2.1).
    pub(crate) fn binl_server(&self) -> Ipv4Addr {
        if self.msg.siaddr.is_unspecified() {
            self.server
        } else {
            self.msg.siaddr
        }
    }

    fn has_menu(&self) -> bool {
        self.vendor.as_ref().is_some_and(|v| v.boot_menu.is_some())
    }

    /// iPXE's "PXE options present": siaddr and a file name, or a menu (43.9).
    fn has_ipxe_pxe_options(&self) -> bool {
        (!self.msg.siaddr.is_unspecified() && self.boot_file().is_some()) || self.has_menu()
    }

    /// 175.1, else 0 (iPXE's default priority).
    fn ipxe_priority(&self) -> i8 {
        self.msg
            .ipxe_options()
            .and_then(Result::ok)
            .and_then(|o| o.priority())
            .unwrap_or(0)
    }

    /// 175.176: the DHCP server tells iPXE not to wait for ProxyDHCP.
    fn ipxe_no_pxedhcp(&self) -> bool {
        self.msg
            .ipxe_options()
            .and_then(Result::ok)
            .is_some_and(|o| o.no_pxedhcp())
    }

    /// PXE 2.1 boot information of a PXE offer: its menu, or its file, else a
    /// 4011 request to its server.
    fn spec_boot(&self, index: usize) -> BootSource {
        if self.has_menu() || self.boot_file().is_some() {
            BootSource::Offer(index)
        } else {
            BootSource::Binl(vec![self.binl_server()])
        }
    }
}

/// The boot file of a message: option 67 over `file`, trailing NULs dropped.
pub(crate) fn boot_file(msg: &DhcpMessage) -> Option<String> {
    msg.boot_file()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .filter(|f| !f.is_empty())
}

/// Where the boot file will come from once the address is bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BootSource {
    /// This offer's PXE information: 43.6 bit 3 + file, a menu (boot server
    /// discovery), or just a file.
    Offer(usize),
    /// Ask these servers on UDP 4011 in turn.
    Binl(Vec<Ipv4Addr>),
    /// Nothing beyond the DHCP ACK itself.
    Ack,
}

/// A decision: lease from `dhcp`, boot from `boot`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) dhcp: usize,
    pub(crate) proxy: Option<usize>,
    pub(crate) boot: BootSource,
}

/// What the rule says now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Keep collecting (and DISCOVER again when the timeout ends).
    Wait,
    /// Proceed.
    Go(Plan),
    /// Give up with this error (the detail says why).
    Fail(super::PxeError, String),
}

/// Whether the client keeps an offer at all, and why not (for the report).
pub(crate) fn keeps(profile: &Profile, offers: &[Offer], new: &Offer) -> Result<(), String> {
    let first_proxy_pxe10 = || {
        !offers.iter().any(|o| {
            o.kind == new.kind && matches!(o.kind, OfferKind::ProxyPxe10 | OfferKind::ProxyWfm11a)
        })
    };
    match new.kind {
        kind if kind.is_proxy() && profile.has(Quirk::NoProxyMerge) => {
            Err("ProxyDHCP offer not merged with a DHCP offer (Q3)".into())
        }
        OfferKind::DhcpWfm11a | OfferKind::ProxyWfm11a if profile.offer_rule == OfferRule::Edk2 => {
            Err("multicast download (WfM11a) is not supported: offer discarded (EDK2, Q24)".into())
        }
        OfferKind::ProxyPxe10 | OfferKind::ProxyWfm11a if profile.has(Quirk::Edk2Bz469) => Err(
            "ProxyPxe10 offer not cached: the cache test reads OfferCount > 0 (EDK2 BZ 469, Q2)"
                .into(),
        ),
        OfferKind::ProxyPxe10
            if profile.has(Quirk::RejectsProxyPxe10)
                && new
                    .vendor
                    .as_ref()
                    .and_then(|v| v.discovery_control)
                    .is_some_and(|c| c.use_bootfile()) =>
        {
            Err("ProxyDHCP offer with 43.6 bit 3 (boot file) ignored (Q1)".into())
        }
        OfferKind::ProxyPxe10 | OfferKind::ProxyWfm11a
            if profile.offer_rule == OfferRule::Edk2 && !first_proxy_pxe10() =>
        {
            Err("only the first ProxyPxe10 offer is kept (EDK2)".into())
        }
        _ => Ok(()),
    }
}

/// Inputs of a decision.
pub(crate) struct Moment {
    pub(crate) now: Instant,
    /// When the first DISCOVER went out.
    pub(crate) started: Instant,
    /// Index of the DISCOVER timeout now running (0-based).
    pub(crate) window: usize,
    /// The current timeout has just ended.
    pub(crate) window_ended: bool,
}

/// Applies the profile's rule to the kept offers.
pub(crate) fn decide(profile: &Profile, offers: &[Offer], m: &Moment) -> Decision {
    match profile.offer_rule {
        OfferRule::Spec { eager } => {
            if eager || m.window_ended {
                spec(offers, m)
            } else {
                Decision::Wait
            }
        }
        OfferRule::Edk2 if m.window_ended => edk2(offers),
        OfferRule::Edk2 => Decision::Wait,
        OfferRule::Ipxe => ipxe(profile, offers, m),
    }
}

/// PXE 2.1: the earliest complete set; DHCP-only offers alone only after the
/// 4- and 8-s timeouts have passed without a ProxyDHCP offer (§2.2, R37).
fn spec(offers: &[Offer], m: &Moment) -> Decision {
    let first = |pred: &dyn Fn(&Offer) -> bool| offers.iter().position(pred);
    let mut best: Option<(Instant, Plan)> = None;
    let mut consider = |done: Instant, plan: Plan| {
        if best.as_ref().is_none_or(|(t, _)| done < *t) {
            best = Some((done, plan));
        }
    };
    for (i, o) in offers.iter().enumerate() {
        if o.kind.is_dhcp() && o.msg.is_pxe_client() {
            consider(
                o.at,
                Plan {
                    dhcp: i,
                    proxy: None,
                    boot: o.spec_boot(i),
                },
            );
        }
    }
    let plain = first(&|o: &Offer| o.kind == OfferKind::DhcpOnly);
    let proxy = first(&|o: &Offer| o.kind.is_proxy());
    if let (Some(d), Some(p)) = (plain, proxy) {
        consider(
            offers[d].at.max(offers[p].at),
            Plan {
                dhcp: d,
                proxy: Some(p),
                boot: offers[p].spec_boot(p),
            },
        );
    }
    if let Some((_, plan)) = best {
        return Decision::Go(plan);
    }
    // Only offers without PXEClient: wait through the 4- and 8-s timeouts.
    if plain.is_some() && m.window_ended && m.window >= 1 {
        let with_file = offers
            .iter()
            .position(|o| o.kind.is_dhcp() && o.boot_file().is_some());
        return match with_file {
            Some(i) => Decision::Go(Plan {
                dhcp: i,
                proxy: None,
                boot: BootSource::Offer(i),
            }),
            None => Decision::Fail(
                super::PxeError::E53,
                format!(
                    "{} DHCP offer(s) without PXEClient, boot file or ProxyDHCP after the 4- and 8-s timeouts",
                    offers.iter().filter(|o| o.kind.is_dhcp()).count()
                ),
            ),
        };
    }
    Decision::Wait
}

/// EDK2's eight steps (PxeBcDhcp4.c, research §2.3), at the end of a timeout.
fn edk2(offers: &[Offer]) -> Decision {
    let first = |k: OfferKind| offers.iter().position(|o| o.kind == k);
    let go = |dhcp, proxy, boot| Decision::Go(Plan { dhcp, proxy, boot });
    // 1 DhcpPxe10 (2, DhcpWfm11a, is discarded on arrival).
    if let Some(i) = first(OfferKind::DhcpPxe10) {
        return go(i, None, BootSource::Offer(i));
    }
    let plain = first(OfferKind::DhcpOnly);
    // 3 DhcpOnly + ProxyPxe10 (4, + ProxyWfm11a, discarded).
    if let (Some(d), Some(p)) = (plain, first(OfferKind::ProxyPxe10)) {
        return go(d, Some(p), BootSource::Offer(p));
    }
    // 5 DhcpBinl: its own server on 4011.
    if let Some(i) = first(OfferKind::DhcpBinl) {
        return go(i, None, BootSource::Binl(vec![offers[i].binl_server()]));
    }
    // 6 DhcpOnly + every cached BINL proxy, in order.
    if let Some(d) = plain {
        let binl: Vec<usize> = (0..offers.len())
            .filter(|&i| offers[i].kind == OfferKind::ProxyBinl)
            .collect();
        if let Some(&p) = binl.first() {
            let servers = binl.iter().map(|&i| offers[i].binl_server()).collect();
            return go(d, Some(p), BootSource::Binl(servers));
        }
    }
    // 7 DhcpOnly with a boot file, 8 BOOTP with a boot file.
    for kind in [OfferKind::DhcpOnly, OfferKind::Bootp] {
        if let Some(i) = offers
            .iter()
            .position(|o| o.kind == kind && o.boot_file().is_some())
        {
            return go(i, None, BootSource::Offer(i));
        }
    }
    Decision::Wait
}

/// iPXE dhcp.c: best DHCP offer (from port 67) and best proxy offer by 175.1,
/// a later offer replacing an equal one; leave with a DHCP offer and a proxy
/// offer (or 175.176, or once `proxy_wait` has passed since discovery began);
/// boot from the proxy only when the DHCP offer names no file or the proxy
/// outranks it.
fn ipxe(profile: &Profile, offers: &[Offer], m: &Moment) -> Decision {
    let best = |pred: &dyn Fn(&Offer) -> bool| {
        let mut best: Option<usize> = None;
        for (i, o) in offers.iter().enumerate() {
            if pred(o) && best.is_none_or(|b| o.ipxe_priority() >= offers[b].ipxe_priority()) {
                best = Some(i);
            }
        }
        best
    };
    let dhcp = best(&|o: &Offer| !o.msg.yiaddr.is_unspecified() && o.src_port == SERVER_PORT);
    let proxy = best(&|o: &Offer| o.msg.is_pxe_client() && o.msg.has_option(code::SERVER_ID));
    let Some(d) = dhcp else {
        return Decision::Wait;
    };
    let no_pxedhcp = offers[d].ipxe_no_pxedhcp();
    let waited: Duration = m.now - m.started;
    // With `ipxe_proxy_on_timer` a ProxyDHCP offer in hand lets iPXE leave
    // discovery only when its DISCOVER timer expires (the ROMs as captured).
    let proxy_ready = proxy.is_some() && (m.window_ended || !profile.ipxe_proxy_on_timer);
    if !(proxy_ready || no_pxedhcp || waited > profile.proxy_wait) {
        return Decision::Wait;
    }
    // iPXE keeps the ACK's settings ("net0.dhcp") and the ProxyDHCP's
    // ("proxydhcp") as two blocks and reads `filename` from the first that
    // has one; settings.c orders blocks by 175.1 and puts a later block of
    // equal priority after the earlier one. So a DHCP server that names a
    // boot file wins over any ProxyDHCP of no higher priority: the real
    // `lab-vs-production` story (tests/real_peers/fidelity_story.rs).
    let proxy_decides = |p: usize| {
        !no_pxedhcp
            && (offers[d].boot_file().is_none()
                || offers[p].ipxe_priority() > offers[d].ipxe_priority())
    };
    let boot = match proxy {
        Some(p) if proxy_decides(p) && offers[p].has_ipxe_pxe_options() => BootSource::Offer(p),
        Some(p) if proxy_decides(p) => BootSource::Binl(vec![offers[p].binl_server()]),
        _ => BootSource::Ack,
    };
    Decision::Go(Plan {
        dhcp: d,
        proxy: proxy.filter(|_| !no_pxedhcp),
        boot,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pxelab_reference::wire::dhcp::MessageType;

    fn offer(yiaddr: [u8; 4]) -> DhcpMessage {
        let mut m = DhcpMessage {
            yiaddr: Ipv4Addr::from(yiaddr),
            ..DhcpMessage::default()
        };
        m.set_message_type(MessageType::Offer);
        m
    }

    fn with43(mut m: DhcpMessage, o: PxeVendorOptions) -> DhcpMessage {
        m.push_option(code::VENDOR_CLASS, &b"PXEClient"[..]);
        m.push_option(code::VENDOR_SPECIFIC, o.emit().unwrap());
        m
    }

    #[test]
    fn classifies_like_edk2() {
        let ip = [10, 0, 0, 5];
        assert_eq!(classify(&offer(ip)), Some(OfferKind::DhcpOnly));
        assert_eq!(classify(&offer([0; 4])), None, "a proxy must say PXEClient");
        let mut binl = offer([0; 4]);
        binl.push_option(code::VENDOR_CLASS, &b"PXEClient"[..]);
        assert_eq!(classify(&binl), Some(OfferKind::ProxyBinl));
        let menu = PxeVendorOptions {
            menu_prompt: Some(pxelab_reference::wire::pxe::MenuPrompt {
                timeout: 0,
                prompt: b"PXE".to_vec(),
            }),
            ..PxeVendorOptions::default()
        };
        assert_eq!(
            classify(&with43(offer(ip), menu)),
            Some(OfferKind::DhcpPxe10)
        );
        let mtftp = PxeVendorOptions {
            mtftp_ip: Some(Ipv4Addr::new(224, 1, 1, 1)),
            mtftp_cport: Some(1758),
            mtftp_sport: Some(1759),
            mtftp_tmout: Some(1),
            mtftp_delay: Some(2),
            ..PxeVendorOptions::default()
        };
        assert_eq!(
            classify(&with43(offer([0; 4]), mtftp.clone())),
            Some(OfferKind::ProxyWfm11a)
        );
        let partial = PxeVendorOptions {
            mtftp_delay: None,
            ..mtftp
        };
        assert_eq!(
            classify(&with43(offer(ip), partial)),
            Some(OfferKind::DhcpBinl)
        );
        let mut bootp = DhcpMessage {
            yiaddr: Ipv4Addr::from(ip),
            ..DhcpMessage::default()
        };
        assert_eq!(classify(&bootp), None, "BOOTP without a file is useless");
        bootp.file = b"pxelinux.0".to_vec();
        assert_eq!(classify(&bootp), Some(OfferKind::Bootp));
    }

    #[test]
    fn option_67_wins_over_the_file_field() {
        let mut m = offer([10, 0, 0, 5]);
        m.file = b"from-file".to_vec();
        assert_eq!(boot_file(&m).as_deref(), Some("from-file"));
        m.push_option(code::BOOTFILE_NAME, &b"from-67\0"[..]);
        assert_eq!(boot_file(&m).as_deref(), Some("from-67"));
    }

    #[test]
    fn kinds_print_in_edk2_words() {
        assert_eq!(OfferKind::ProxyPxe10.to_string(), "Proxy PXE10");
        assert_eq!(OfferKind::DhcpBinl.to_string(), "BINL");
        assert_eq!(OfferKind::DhcpOnly.to_string(), "DhcpOnly");
    }
}

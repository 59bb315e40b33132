//! Whatever arrives, the firmware neither panics nor hangs: every path ends
//! in Loaded, LocalBoot or an error screen.

mod firmware_common;

use std::net::{Ipv4Addr, SocketAddrV4};

use firmware_common::Direct;
use firmware_common::craft::{self, dhcp_only, proxy_binl, proxy_pxe10, pxe10, with_file};
use proptest::prelude::*;
use pxelab_reference::Instant;
use pxelab_reference::wire::dhcp::MessageType;
use pxelab_simulator::firmware::{FirmwareEvent, Profile};

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const C: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);
const Y: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 50);

/// A plausible reply (correct xid) to mutate.
fn seed_reply(kind: u8, xid: u32) -> Vec<u8> {
    let m = match kind % 6 {
        0 => dhcp_only(xid, A, Y),
        1 => pxe10(dhcp_only(xid, A, Y), A, "nbp.0"),
        2 => proxy_pxe10(xid, C, "lab.0"),
        3 => proxy_binl(xid, C),
        4 => with_file(craft::ack_for(xid, A, Y), A, "nbp.0"),
        _ => craft::reply(xid, Some(MessageType::Nak), A, Ipv4Addr::UNSPECIFIED),
    };
    m.emit()
}

#[derive(Debug, Clone)]
struct Input {
    after_ms: u64,
    to_tftp: bool,
    seed: Option<u8>,
    flips: Vec<(usize, u8)>,
    raw: Vec<u8>,
}

fn input() -> impl Strategy<Value = Input> {
    (
        0u64..3000,
        any::<bool>(),
        proptest::option::of(any::<u8>()),
        proptest::collection::vec((0usize..600, any::<u8>()), 0..4),
        proptest::collection::vec(any::<u8>(), 0..700),
    )
        .prop_map(|(after_ms, to_tftp, seed, flips, raw)| Input {
            after_ms,
            to_tftp,
            seed,
            flips,
            raw,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_input_ends_on_a_screen(
        profile in 0usize..4,
        inputs in proptest::collection::vec(input(), 0..12),
    ) {
        let id = Profile::builtin_ids()[profile];
        let mut d = Direct::new(Profile::builtin(id).unwrap());
        let mut at = Instant::ZERO;
        for i in inputs {
            at += std::time::Duration::from_millis(i.after_ms);
            let mut bytes = match i.seed {
                Some(k) => seed_reply(k, d.xid()),
                None => i.raw.clone(),
            };
            for (pos, b) in &i.flips {
                if let Some(x) = bytes.get_mut(*pos) {
                    *x ^= *b;
                }
            }
            let port = if i.to_tftp { d.fw.listens_on()[1] } else { 68 };
            let src_port = if i.to_tftp { 50000 } else { 67 };
            d.deliver(at, SocketAddrV4::new(A, src_port), port, &bytes);
        }
        d.advance(at + std::time::Duration::from_secs(2000));
        prop_assert!(d.fw.is_finished(), "{}", d.transcript());
        prop_assert!(d.fw.poll_timeout().is_none());
        let last = &d.events.last().unwrap().1;
        let ended = matches!(
            last,
            FirmwareEvent::Failed { .. } | FirmwareEvent::Loaded { .. } | FirmwareEvent::LocalBoot { .. }
        );
        prop_assert!(ended, "last event {:?}", last);
    }
}

//! Property tests of the DHCPv4 codec (`wire::dhcp`), with dhcproto 0.15 as the
//! differential oracle.
//!
//! Where we deliberately differ from dhcproto (research/rust-ecosystem.md §1), and
//! why the oracle generator stays clear of it:
//! - order and duplicates: dhcproto keeps options in a code-sorted map, so it
//!   reorders and drops duplicates; we keep wire order (firmware is fingerprinted
//!   by it). The oracle compares options as a code → bytes map, without duplicates.
//! - zero-length options: dhcproto does not emit them; we do. None in the oracle.
//! - `hlen` > 16 makes dhcproto's `chaddr()` panic; the oracle uses `hlen` 6.
//! - option 52: dhcproto never reads `file`/`sname` as options; no overload in
//!   the oracle.
//! - typed options (93 reads one u16 of a list, 37 clobbers 23, strings must be
//!   UTF-8, …): the oracle uses codes dhcproto keeps as raw bytes.
//! - `sname`/`file`: dhcproto returns them with their NUL, and `None` for a field
//!   filled to the last byte; we return the bytes before the first NUL. The
//!   oracle keeps the fields shorter than their size.
//! - dhcproto writes no END when there are no options and does not pad to 300
//!   bytes; we always write END and pad (RFC 1542 §2.1, the Linux kernel client).
//! - dhcproto ignores a bad magic cookie and stops silently at a bad option; we
//!   return an error.

mod captures;

use std::net::Ipv4Addr;

use captures::{dhclient_discover, udhcpc_discover};
use dhcproto::v4 as dp;
use dhcproto::{Decodable, Decoder, Encodable, Encoder};
use proptest::prelude::*;
use pxelab_reference::wire::ParseMode;
use pxelab_reference::wire::dhcp::{
    DhcpError, DhcpMessage, DhcpOption, MIN_EMIT_LEN, MessageType, Op, Overload, code,
};

const MODES: [ParseMode; 2] = [ParseMode::Strict, ParseMode::Lax];

fn arb_ipv4() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

/// Bytes with no NUL, as a fixed field holds before its terminator.
fn arb_field(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(1u8..=255, 0..=max)
}

fn arb_option(max_len: usize) -> impl Strategy<Value = DhcpOption> {
    // A small pool of codes makes duplicates common; 52 is excluded (the codec
    // owns it through `overload`).
    let code = prop_oneof![
        prop::sample::select(vec![12u8, 43, 53, 60, 77, 97]),
        (1u8..=254).prop_filter("52 is the overload flag", |c| *c != code::OVERLOAD),
    ];
    (code, proptest::collection::vec(any::<u8>(), 0..=max_len))
        .prop_map(|(code, data)| DhcpOption { code, data })
}

prop_compose! {
    fn arb_header()(
        op in any::<u8>(), htype in any::<u8>(), hlen in any::<u8>(), hops in any::<u8>(),
        xid in any::<u32>(), secs in any::<u16>(), flags in any::<u16>(),
        ciaddr in arb_ipv4(), yiaddr in arb_ipv4(), siaddr in arb_ipv4(), giaddr in arb_ipv4(),
        chaddr in any::<[u8; 16]>(),
    ) -> DhcpMessage {
        DhcpMessage {
            op: Op::from(op), htype, hlen, hops, xid, secs, flags,
            ciaddr, yiaddr, siaddr, giaddr, chaddr,
            ..DhcpMessage::default()
        }
    }
}

prop_compose! {
    /// Any message `emit` must reproduce exactly: option payloads of at most 255
    /// bytes (a longer one comes back split, see `long_options_join_back`), and
    /// overloaded fields empty.
    fn arb_message()(
        header in arb_header(),
        sname in arb_field(64), file in arb_field(128),
        overload in prop::sample::select(vec![Overload::None, Overload::File, Overload::Sname, Overload::Both]),
        options in proptest::collection::vec(arb_option(255), 0..12),
    ) -> DhcpMessage {
        let mut m = DhcpMessage { sname, file, overload, options, ..header };
        if overload.file() { m.file.clear(); }
        if overload.sname() { m.sname.clear(); }
        m
    }
}

/// An options area that is mostly well-formed TLVs with some framing bytes and
/// garbage mixed in, so parses succeed often enough to test what follows them.
fn arb_options_area() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        4 => (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(c, d)| [&[c, d.len() as u8][..], &d].concat()),
        1 => Just(vec![0u8]),
        1 => Just(vec![255u8]),
        1 => (1u8..=3).prop_map(|v| vec![52, 1, v]),
        1 => proptest::collection::vec(any::<u8>(), 0..4),
    ];
    proptest::collection::vec(piece, 0..12).prop_map(|p| p.concat())
}

prop_compose! {
    /// A random header, the cookie, and hostile areas in the options field,
    /// `file` and `sname` (each ended by END, or not, at random).
    fn arb_hostile_message()(
        mut header in proptest::collection::vec(any::<u8>(), 236),
        areas in [arb_options_area(), arb_options_area(), arb_options_area()],
        ends in any::<[bool; 3]>(),
        hlen in prop_oneof![3 => 0u8..=16, 1 => any::<u8>()],
    ) -> Vec<u8> {
        header[2] = hlen;
        let mut areas = areas;
        for (area, end) in areas.iter_mut().zip(ends) {
            if end {
                area.push(255);
            }
        }
        let [sname, file, options] = areas;
        for (at, size, area) in [(44, 64, &sname), (108, 128, &file)] {
            let n = area.len().min(size);
            header[at..at + size].fill(0);
            header[at..at + n].copy_from_slice(&area[..n]);
        }
        header.extend_from_slice(&[0x63, 0x82, 0x53, 0x63]);
        header.extend_from_slice(&options);
        header
    }
}

proptest! {
    #[test]
    fn parse_emit_round_trips(m in arb_message()) {
        let bytes = m.emit();
        prop_assert!(bytes.len() >= MIN_EMIT_LEN);
        prop_assert_eq!(&DhcpMessage::parse(&bytes, ParseMode::Lax).unwrap(), &m);
        // Strict refuses only the hostile `hlen`.
        match DhcpMessage::parse(&bytes, ParseMode::Strict) {
            Ok(strict) => prop_assert_eq!(&strict, &m),
            Err(e) => prop_assert_eq!(e, DhcpError::BadHlen(m.hlen)),
        }
    }

    #[test]
    fn long_options_join_back(
        header in arb_header(),
        options in proptest::collection::vec(arb_option(700), 0..6),
    ) {
        let m = DhcpMessage { hlen: 6, options, ..header };
        let parsed = DhcpMessage::parse(&m.emit(), ParseMode::Strict).unwrap();
        prop_assert!(parsed.options.iter().all(|o| o.data.len() <= 255));
        for o in &m.options {
            prop_assert_eq!(parsed.option(o.code), m.option(o.code));
        }
    }

    #[test]
    fn emit_within_keeps_every_option(m in arb_message(), max_len in 0usize..1500) {
        let bytes = m.emit_within(max_len);
        let parsed = DhcpMessage::parse(&bytes, ParseMode::Lax).unwrap();
        prop_assert_eq!(&parsed.options, &m.options);
        prop_assert_eq!((&parsed.sname, &parsed.file), (&m.sname, &m.file));
        // A requested overload is kept; more may have been needed.
        prop_assert!(!m.overload.file() || parsed.overload.file());
        prop_assert!(!m.overload.sname() || parsed.overload.sname());
        if bytes.len() > max_len.max(MIN_EMIT_LEN) {
            // Only when even `file` and `sname` could not take the rest.
            prop_assert_eq!(parsed.overload, m.overload);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..700)) {
        for mode in MODES {
            let _ = DhcpMessage::parse(&bytes, mode);
        }
    }

    /// Arbitrary bytes rarely carry the cookie: this puts one after a random
    /// header so the options, `file` and `sname` parsers see hostile input.
    #[test]
    fn hostile_options_never_panic(
        bytes in arb_hostile_message(),
    ) {
        for mode in MODES {
            if let Ok(m) = DhcpMessage::parse(&bytes, mode) {
                // Accessors must not panic either (hlen may be anything).
                let _ = (m.client_mac(), m.message_type(), m.boot_file(), m.max_message_size());
                let _ = (m.client_class(), m.client_arches(), m.client_uuid(), m.user_class());
                let _ = (m.ipxe_options(), m.pxe_vendor_options(mode));
            }
        }
    }

    /// `emit(parse(bytes))` is a fix point after one round: what we re-emit reads
    /// back as the same message.
    #[test]
    fn emit_of_parse_is_stable(
        bytes in arb_hostile_message(),
    ) {
        for mode in MODES {
            if let Ok(m1) = DhcpMessage::parse(&bytes, mode) {
                let e1 = m1.emit();
                let m2 = DhcpMessage::parse(&e1, mode).unwrap();
                prop_assert_eq!(&m2, &m1);
                prop_assert_eq!(m2.emit(), e1);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Differential oracle: dhcproto 0.15

/// Codes dhcproto keeps as raw bytes: its `Unknown` ones plus 43, 60, 77 and 97
/// (declared as `Vec<u8>`).
fn raw_in_dhcproto(c: u8) -> bool {
    matches!(c, 43 | 60 | 77 | 97) || matches!(dp::OptionCode::from(c), dp::OptionCode::Unknown(_))
}

prop_compose! {
    /// A well-formed message inside the common ground of both codecs.
    fn arb_common_message()(
        header in arb_header(),
        sname in arb_field(63), file in arb_field(127),
        msg_type in proptest::option::of(1u8..=8),
        codes in proptest::collection::btree_set(
            (1u8..=254).prop_filter("raw in dhcproto", |c| raw_in_dhcproto(*c)), 0..8),
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..400), 8),
        shuffle in any::<prop::sample::Index>(),
    ) -> DhcpMessage {
        let mut m = DhcpMessage { hlen: 6, sname, file, ..header };
        if let Some(t) = msg_type {
            m.push_option(code::MESSAGE_TYPE, [t]);
        }
        for (c, data) in codes.into_iter().zip(payloads) {
            m.push_option(c, data);
        }
        // Wire order is ours to choose; dhcproto's map must not care.
        if !m.options.is_empty() {
            let k = shuffle.index(m.options.len());
            m.options.rotate_left(k);
        }
        m
    }
}

/// dhcproto's options as code → bytes, by encoding each one and joining its
/// instances (a long option comes out split per RFC 3396).
fn dhcproto_options(msg: &dp::Message) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    for (c, opt) in msg.opts().iter() {
        let mut buf = Vec::new();
        opt.encode(&mut Encoder::new(&mut buf)).unwrap();
        let mut data = Vec::new();
        let mut i = 0;
        while i + 1 < buf.len() {
            let len = usize::from(buf[i + 1]);
            data.extend_from_slice(&buf[i + 2..i + 2 + len]);
            i += 2 + len;
        }
        out.push((u8::from(*c), data));
    }
    out
}

/// Ours as code → joined bytes, in code order like dhcproto's map.
fn our_options(m: &DhcpMessage) -> Vec<(u8, Vec<u8>)> {
    let mut codes: Vec<u8> = m.options.iter().map(|o| o.code).collect();
    codes.sort_unstable();
    codes.dedup();
    codes
        .into_iter()
        .map(|c| (c, m.option(c).unwrap().into_owned()))
        .collect()
}

fn nul_field(ours: &[u8]) -> Option<Vec<u8>> {
    (!ours.is_empty()).then(|| [ours, &[0][..]].concat())
}

fn assert_headers_agree(ours: &DhcpMessage, theirs: &dp::Message) -> Result<(), TestCaseError> {
    prop_assert_eq!(u8::from(ours.op), u8::from(theirs.opcode()));
    prop_assert_eq!(ours.htype, u8::from(theirs.htype()));
    prop_assert_eq!(ours.hlen, theirs.hlen());
    prop_assert_eq!(ours.hops, theirs.hops());
    prop_assert_eq!(ours.xid, theirs.xid());
    prop_assert_eq!(ours.secs, theirs.secs());
    prop_assert_eq!(ours.flags, u16::from(theirs.flags()));
    prop_assert_eq!(ours.ciaddr, theirs.ciaddr());
    prop_assert_eq!(ours.yiaddr, theirs.yiaddr());
    prop_assert_eq!(ours.siaddr, theirs.siaddr());
    prop_assert_eq!(ours.giaddr, theirs.giaddr());
    prop_assert_eq!(&ours.chaddr[..6], theirs.chaddr());
    prop_assert_eq!(nul_field(&ours.sname), theirs.sname().map(<[u8]>::to_vec));
    prop_assert_eq!(nul_field(&ours.file), theirs.fname().map(<[u8]>::to_vec));
    Ok(())
}

/// dhcproto's message for the same content, built by decoding each option's
/// TLVs so every code gets the variant dhcproto itself would pick.
fn to_dhcproto(m: &DhcpMessage) -> dp::Message {
    let mut msg = dp::Message::new_with_id(
        m.xid,
        m.ciaddr,
        m.yiaddr,
        m.siaddr,
        m.giaddr,
        &m.chaddr[..6],
    );
    msg.set_opcode(dp::Opcode::from(u8::from(m.op)))
        .set_htype(dp::HType::from(m.htype))
        .set_hops(m.hops)
        .set_secs(m.secs)
        .set_flags(dp::Flags::from(m.flags));
    if !m.sname.is_empty() {
        msg.set_sname(&m.sname);
    }
    if !m.file.is_empty() {
        msg.set_fname(&m.file);
    }
    for o in &m.options {
        let mut tlv = Vec::new();
        for chunk in o.data.chunks(255) {
            tlv.push(o.code);
            tlv.push(chunk.len() as u8);
            tlv.extend_from_slice(chunk);
        }
        let opt = dp::DhcpOption::decode(&mut Decoder::new(&tlv)).unwrap();
        msg.opts_mut().insert(opt);
    }
    msg
}

proptest! {
    /// What we emit, dhcproto reads the same way.
    #[test]
    fn dhcproto_reads_what_we_emit(m in arb_common_message()) {
        let bytes = m.emit();
        let theirs = dp::Message::decode(&mut Decoder::new(&bytes)).unwrap();
        assert_headers_agree(&m, &theirs)?;
        prop_assert_eq!(dhcproto_options(&theirs), our_options(&m));
    }

    /// What dhcproto emits, we read the same way (strictly, when it wrote END).
    #[test]
    fn we_read_what_dhcproto_emits(m in arb_common_message()) {
        let msg = to_dhcproto(&m);
        let mut bytes = Vec::new();
        msg.encode(&mut Encoder::new(&mut bytes)).unwrap();
        // dhcproto writes no END for an empty option list: only lax reads that.
        let mode = if m.options.is_empty() { ParseMode::Lax } else { ParseMode::Strict };
        let ours = DhcpMessage::parse(&bytes, mode).unwrap();
        // Compared with dhcproto's own reading (its getters return what a
        // setter stored, without the NUL a decode includes).
        let theirs = dp::Message::decode(&mut Decoder::new(&bytes)).unwrap();
        assert_headers_agree(&ours, &theirs)?;
        prop_assert_eq!(our_options(&ours), dhcproto_options(&msg));
        prop_assert_eq!(our_options(&ours), our_options(&m));
    }
}

#[test]
fn dhcproto_drops_zero_length_options_we_keep_them() {
    let mut m = DhcpMessage::default();
    m.push_option(code::MESSAGE_TYPE, [1]);
    m.push_option(code::USER_CLASS, Vec::new());
    let bytes = m.emit();
    assert_eq!(&bytes[240..246], &[53, 1, 1, 77, 0, 255]);
    let mut msg = to_dhcproto(&DhcpMessage {
        options: m.options[..1].to_vec(),
        ..m.clone()
    });
    msg.opts_mut().insert(dp::DhcpOption::UserClass(Vec::new()));
    let mut theirs = Vec::new();
    msg.encode(&mut Encoder::new(&mut theirs)).unwrap();
    let back = DhcpMessage::parse(&theirs, ParseMode::Strict).unwrap();
    assert!(
        back.option(code::USER_CLASS).is_none(),
        "dhcproto kept it after all"
    );
    assert_eq!(DhcpMessage::parse(&bytes, ParseMode::Strict).unwrap(), m);
}

#[test]
fn hostile_hlen_is_harmless_here() {
    let mut m = DhcpMessage {
        hlen: 255,
        ..DhcpMessage::default()
    };
    m.push_option(code::MESSAGE_TYPE, [1]);
    let bytes = m.emit();
    assert!(DhcpMessage::parse(&bytes, ParseMode::Strict).is_err());
    let lax = DhcpMessage::parse(&bytes, ParseMode::Lax).unwrap();
    assert_eq!(lax.hlen, 255);
    assert_eq!(lax.client_mac(), None);
}

/// The hostile generator must reach the code after a successful parse, or the
/// fix-point property tests nothing.
#[test]
fn hostile_generator_often_parses() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = arb_hostile_message();
    let mut ok = [0usize; 2];
    let mut overloaded = 0;
    for _ in 0..500 {
        let bytes = strategy.new_tree(&mut runner).unwrap().current();
        for (i, mode) in MODES.into_iter().enumerate() {
            if let Ok(m) = DhcpMessage::parse(&bytes, mode) {
                ok[i] += 1;
                overloaded += usize::from(m.overload != Overload::None);
            }
        }
    }
    assert!(
        ok[0] > 10 && ok[1] > 50 && overloaded > 10,
        "{ok:?} {overloaded}"
    );
}

// ---------------------------------------------------------------------------
// Real captures (udhcpc, dhclient: see captures/mod.rs for where and how)

#[test]
fn real_discovers_parse_strictly_and_re_emit_byte_for_byte() {
    for bytes in [udhcpc_discover(), dhclient_discover()] {
        let m = DhcpMessage::parse(&bytes, ParseMode::Strict).unwrap();
        assert_eq!(m.message_type(), Some(MessageType::Discover));
        assert_eq!(m.client_mac().unwrap().to_string(), "52:54:00:aa:bb:01");
        assert_eq!(m.emit(), bytes, "re-emit differs for {m:?}");
        // And dhcproto reads the same header and options.
        let theirs = dp::Message::decode(&mut Decoder::new(&bytes)).unwrap();
        assert_headers_agree(&m, &theirs).unwrap();
        assert_eq!(dhcproto_options(&theirs), our_options(&m));
    }
    let udhcpc = DhcpMessage::parse(&udhcpc_discover(), ParseMode::Strict).unwrap();
    let codes: Vec<u8> = udhcpc.options.iter().map(|o| o.code).collect();
    assert_eq!(codes, [53, 57, 55, 60, 61], "wire order is the fingerprint");
    assert_eq!(udhcpc.option(60).unwrap().as_ref(), b"udhcp 1.35.0");
    assert_eq!(udhcpc.max_message_size(), Some(576));
}

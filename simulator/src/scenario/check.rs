//! From the file as written to a [`Scenario`] the world can trust. Every refusal
//! names the field path (`fleet[1].segment`), the line, what is wrong and what
//! would be right (the valid names, the nearest one, an example value).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::ops::Range;
use std::str::FromStr;

use pxelab_reference::Mac;
use pxelab_reference::dhcp::{DhcpSettings, PoolConfig};
use toml::Spanned;

use super::error::{Locator, ScenarioError, did_you_mean};
use super::file::{
    CountFile, DelayFile, DeploymentFile, ExpectFile, FaultFile, FileFile, FleetFile, ImageFile,
    JobKindFile, JobKindKeys, LinkFile, ScenarioFile, SegmentFile, ServerFile, TransferFile,
};
use super::types::*;
use super::{profile_ids, quirk_from_id, quirk_ids};
use crate::firmware::server_quirk_ids;

type R<T> = Result<T, ScenarioError>;

/// A kind-specific server key: its name, where it was given, the kinds it fits.
type KindKey<'a> = (&'a str, Option<Range<usize>>, &'a [ServerKind]);

/// A job's argument key: its name, its value if given, the job kinds that take
/// it, an example value.
type ArgKey<'a> = (
    &'a str,
    Option<&'a Spanned<String>>,
    &'a [JobKindFile],
    &'a str,
);

/// Longest allowed run, one virtual day.
const MAX_DURATION_S: f64 = 86_400.0;
/// Largest fleet.
const MAX_COUNT: u32 = 1_000_000;
/// Largest TFTP file, 256 MiB.
const MAX_FILE_SIZE: u64 = 256 * 1024 * 1024;
/// Bytes in a MiB and a GiB (images are sized in MiB, disks in GiB).
const MIB: f64 = 1_048_576.0;
const GIB: f64 = 1_073_741_824.0;
/// Largest image, 1 TiB in MiB.
const MAX_IMAGE_MIB: f64 = 1_048_576.0;
/// Largest disk, 16 TiB in GiB.
const MAX_DISK_GIB: f64 = 16_384.0;
/// What a disk loses to the hidden Bootworks partition and partition
/// alignment before an image can be written to it.
const DISK_RESERVED: u64 = 128 * 1024 * 1024;
/// A disk is whole 512-byte sectors.
const SECTOR: u64 = 512;
/// Bounds of a reference deployment's `max_attempts`.
const MAX_ATTEMPTS: u32 = 100;

pub(super) fn check(f: ScenarioFile, loc: &Locator<'_>) -> R<Scenario> {
    let name = f.name.get_ref();
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(loc.at(
            f.name.span(),
            "name",
            format_args!(" = {name:?}: use lowercase letters, digits and '-' only (it is typed as `pxelab run NAME`)"),
        ));
    }
    let summary = f.summary.get_ref();
    if summary.trim().is_empty() || summary.contains('\n') {
        return Err(loc.at(
            f.summary.span(),
            "summary",
            ": give one non-empty line (it is what `pxelab run --list` shows)",
        ));
    }
    let duration_s = match &f.duration_s {
        None => 600.0,
        Some(d) => {
            let v = *d.get_ref();
            if !(v > 0.0 && v <= MAX_DURATION_S) {
                return Err(loc.at(
                    d.span(),
                    "duration_s",
                    format_args!(" = {v}: must be > 0 and <= {MAX_DURATION_S} (one day)"),
                ));
            }
            v
        }
    };

    let ck = Checker {
        loc,
        duration_s,
        segments: &f.segments,
        servers: &f.servers,
        fleets: &f.fleets,
        deployments: &f.deployments,
    };
    ck.unique_names()?;
    let segments = f
        .segments
        .iter()
        .enumerate()
        .map(|(i, s)| ck.segment(i, s))
        .collect::<R<Vec<_>>>()?;
    if segments.is_empty() {
        return Err(loc.at(
            0..0,
            "segment",
            ": no [[segment]]: a scenario needs at least one, e.g. [[segment]] name = \"office\" subnet = \"10.10.0.0/24\"",
        ));
    }
    let fleets = f
        .fleets
        .iter()
        .enumerate()
        .map(|(i, fl)| ck.fleet(i, fl, &segments))
        .collect::<R<Vec<_>>>()?;
    if fleets.is_empty() {
        return Err(loc.at(
            0..0,
            "fleet",
            ": no [[fleet]]: a scenario needs at least one fleet of clients",
        ));
    }
    ck.macs_disjoint(&fleets)?;
    let servers = f
        .servers
        .iter()
        .enumerate()
        .map(|(i, s)| ck.server(i, s, &segments))
        .collect::<R<Vec<_>>>()?;
    ck.addresses_unique(&servers)?;
    let faults = f
        .faults
        .iter()
        .enumerate()
        .map(|(i, x)| ck.fault(i, x))
        .collect::<R<Vec<_>>>()?;
    let mut deployments: Vec<Deployment> = Vec::new();
    for (i, d) in f.deployments.iter().enumerate() {
        let dep = ck.deployment(i, d, &fleets, &deployments)?;
        deployments.push(dep);
    }
    let expects = f
        .expects
        .iter()
        .enumerate()
        .map(|(i, x)| ck.expect(i, x, &fleets))
        .collect::<R<Vec<_>>>()?;

    Ok(Scenario {
        deployments,
        name: name.clone(),
        summary: summary.clone(),
        description: f.description,
        seed: f.seed,
        duration_s,
        segments,
        servers,
        fleets,
        faults,
        expects,
    })
}

struct Checker<'a> {
    loc: &'a Locator<'a>,
    duration_s: f64,
    segments: &'a [SegmentFile],
    servers: &'a [ServerFile],
    fleets: &'a [FleetFile],
    deployments: &'a [DeploymentFile],
}

/// `"a, b, c"`, or `"none"` for an empty list.
fn list<'s>(names: impl IntoIterator<Item = &'s str>) -> String {
    let v: Vec<&str> = names.into_iter().collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// Names that read well in reports and make stable RNG labels.
fn valid_entity_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl Checker<'_> {
    fn err(&self, span: Range<usize>, field: &str, msg: impl std::fmt::Display) -> ScenarioError {
        self.loc.at(span, field, msg)
    }

    fn segment_names(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().map(|s| s.name.get_ref().as_str())
    }
    fn server_names(&self) -> impl Iterator<Item = &str> + Clone {
        self.servers.iter().map(|s| s.name.get_ref().as_str())
    }
    fn fleet_names(&self) -> impl Iterator<Item = &str> + Clone {
        self.fleets.iter().map(|s| s.name.get_ref().as_str())
    }
    fn deployment_names(&self) -> impl Iterator<Item = &str> + Clone {
        self.deployments.iter().map(|s| s.name.get_ref().as_str())
    }

    /// Segment names are unique; server and fleet names share one namespace (a
    /// report line or a fault target names either).
    fn unique_names(&self) -> R<()> {
        let mut seen: BTreeMap<&str, (String, usize)> = BTreeMap::new();
        for (i, s) in self.segments.iter().enumerate() {
            let path = format!("segment[{i}].name");
            self.name_ok(&s.name, &path)?;
            if let Some((other, line)) = seen.get(s.name.get_ref().as_str()) {
                return Err(self.err(
                    s.name.span(),
                    &path,
                    format_args!(
                        " = {:?}: already the name of {other} (line {line})",
                        s.name.get_ref()
                    ),
                ));
            }
            seen.insert(
                s.name.get_ref(),
                (format!("segment[{i}]"), self.loc.line(s.name.span().start)),
            );
        }
        let mut seen: BTreeMap<&str, (String, usize)> = BTreeMap::new();
        let servers = self
            .servers
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("server[{i}]"), &s.name));
        let fleets = self
            .fleets
            .iter()
            .enumerate()
            .map(|(i, f)| (format!("fleet[{i}]"), &f.name));
        for (owner, name) in servers.chain(fleets) {
            let path = format!("{owner}.name");
            self.name_ok(name, &path)?;
            if let Some((other, line)) = seen.get(name.get_ref().as_str()) {
                return Err(self.err(
                    name.span(),
                    &path,
                    format_args!(
                        " = {:?}: already the name of {other} (line {line}); servers and fleets share one set of names",
                        name.get_ref()
                    ),
                ));
            }
            seen.insert(name.get_ref(), (owner, self.loc.line(name.span().start)));
        }
        Ok(())
    }

    fn name_ok(&self, name: &Spanned<String>, path: &str) -> R<()> {
        if valid_entity_name(name.get_ref()) {
            Ok(())
        } else {
            Err(self.err(
                name.span(),
                path,
                format_args!(
                    " = {:?}: use 1 to 64 letters, digits, '-', '_' or '.'",
                    name.get_ref()
                ),
            ))
        }
    }

    fn segment(&self, i: usize, s: &SegmentFile) -> R<Segment> {
        let path = format!("segment[{i}]");
        let subnet = self.subnet(&s.subnet, &format!("{path}.subnet"))?;
        let link = match &s.link {
            Some(l) => self.link(l, &format!("{path}.link"))?,
            None => LinkSpec::default(),
        };
        Ok(Segment {
            name: s.name.get_ref().clone(),
            subnet,
            link,
        })
    }

    fn subnet(&self, v: &Spanned<String>, path: &str) -> R<Subnet> {
        let text = v.get_ref();
        let bad = |why: &str| self.err(v.span(), path, format_args!(" = {text:?}: {why}"));
        let (a, p) = text.split_once('/').ok_or_else(|| {
            bad("expected an IPv4 subnet in CIDR notation such as \"10.10.0.0/24\"")
        })?;
        let addr = Ipv4Addr::from_str(a.trim()).map_err(|_| {
            bad("expected an IPv4 subnet in CIDR notation such as \"10.10.0.0/24\"")
        })?;
        let prefix: u8 = p
            .trim()
            .parse()
            .map_err(|_| bad("the prefix length after '/' must be a number from 8 to 30"))?;
        if !(8..=30).contains(&prefix) {
            return Err(bad("the prefix length must be from 8 to 30"));
        }
        let network = Ipv4Addr::from(u32::from(addr) & mask_bits(prefix));
        if network != addr {
            return Err(bad(&format!(
                "host bits are set; did you mean \"{network}/{prefix}\"?"
            )));
        }
        Ok(Subnet { addr, prefix })
    }

    fn link(&self, l: &LinkFile, path: &str) -> R<LinkSpec> {
        let non_negative = |v: &Option<Spanned<f64>>, key: &str| -> R<Option<f64>> {
            match v {
                None => Ok(None),
                Some(x) if x.get_ref().is_finite() && *x.get_ref() >= 0.0 => Ok(Some(*x.get_ref())),
                Some(x) => Err(self.err(
                    x.span(),
                    &format!("{path}.{key}"),
                    format_args!(" = {}: must be a number >= 0", x.get_ref()),
                )),
            }
        };
        let latency_us = non_negative(&l.latency_us, "latency_us")?;
        let jitter_us = non_negative(&l.jitter_us, "jitter_us")?;
        let loss = non_negative(&l.loss, "loss")?;
        if let (Some(v), Some(x)) = (loss, &l.loss)
            && v > 1.0
        {
            return Err(self.err(
                x.span(),
                &format!("{path}.loss"),
                format_args!(" = {v}: a probability from 0.0 to 1.0 (0.01 = 1 % of frames lost)"),
            ));
        }
        let bandwidth_mbps = non_negative(&l.bandwidth_mbps, "bandwidth_mbps")?;
        if let (Some(v), Some(x)) = (bandwidth_mbps, &l.bandwidth_mbps)
            && v <= 0.0
        {
            return Err(self.err(
                x.span(),
                &format!("{path}.bandwidth_mbps"),
                format_args!(" = {v}: must be > 0 (Mbit/s, e.g. 1000)"),
            ));
        }
        let link_up_delay_s = match &l.link_up_delay_s {
            None => None,
            Some(d) => {
                let field = format!("{path}.link_up_delay_s");
                let ok = |v: f64| v.is_finite() && (0.0..=MAX_DURATION_S).contains(&v);
                Some(match *d.get_ref() {
                    DelayFile::Fixed(v) if ok(v) => DelaySpec::Fixed(v),
                    DelayFile::Range(lo, hi) if ok(lo) && ok(hi) && lo <= hi => {
                        DelaySpec::Range(lo, hi)
                    }
                    DelayFile::Fixed(v) => {
                        return Err(self.err(
                            d.span(),
                            &field,
                            format_args!(" = {v}: seconds from 0 to {MAX_DURATION_S}"),
                        ));
                    }
                    DelayFile::Range(lo, hi) => {
                        return Err(self.err(
                            d.span(),
                            &field,
                            format_args!(
                                " = [{lo}, {hi}]: a range [lo, hi] of seconds with 0 <= lo <= hi <= {MAX_DURATION_S}"
                            ),
                        ));
                    }
                })
            }
        };
        Ok(LinkSpec {
            latency_us,
            jitter_us,
            loss,
            bandwidth_mbps,
            link_up_delay_s,
        })
    }

    /// The segment named by `v`, with the list and the nearest name when none is.
    fn segment_ref<'s>(
        &self,
        v: &Spanned<String>,
        path: &str,
        segs: &'s [Segment],
    ) -> R<&'s Segment> {
        segs.iter().find(|s| &s.name == v.get_ref()).ok_or_else(|| {
            self.err(
                v.span(),
                path,
                format_args!(
                    " = {:?}: no such segment (segments: {}){}",
                    v.get_ref(),
                    list(self.segment_names()),
                    did_you_mean(v.get_ref(), self.segment_names())
                ),
            )
        })
    }

    fn fleet_ref(&self, v: &Spanned<String>, path: &str) -> R<()> {
        self.name_ref(
            v,
            path,
            ("fleet", "fleets"),
            self.fleet_names(),
            ("server", self.server_names()),
        )
    }

    fn server_ref(&self, v: &Spanned<String>, path: &str) -> R<()> {
        self.name_ref(
            v,
            path,
            ("server", "servers"),
            self.server_names(),
            ("fleet", self.fleet_names()),
        )
    }

    /// `v` must name one of `names` (a `kind`); when it names one of the
    /// `other` kind instead, the error says so.
    fn name_ref<'n>(
        &self,
        v: &Spanned<String>,
        path: &str,
        (kind, kinds): (&str, &str),
        names: impl Iterator<Item = &'n str> + Clone,
        (other, mut others): (&str, impl Iterator<Item = &'n str>),
    ) -> R<()> {
        if names.clone().any(|n| n == v.get_ref()) {
            return Ok(());
        }
        let also = if others.any(|n| n == v.get_ref()) {
            format!(" (that is a {other})")
        } else {
            String::new()
        };
        Err(self.err(
            v.span(),
            path,
            format_args!(
                " = {:?}: no such {kind}{also} ({kinds}: {}){}",
                v.get_ref(),
                list(names.clone()),
                did_you_mean(v.get_ref(), names)
            ),
        ))
    }

    fn seconds(&self, v: &Option<Spanned<f64>>, path: &str, below_duration: bool) -> R<f64> {
        let Some(x) = v else { return Ok(0.0) };
        let s = *x.get_ref();
        if !s.is_finite() || s < 0.0 {
            return Err(self.err(x.span(), path, format_args!(" = {s}: seconds, >= 0")));
        }
        if below_duration && s >= self.duration_s {
            return Err(self.err(
                x.span(),
                path,
                format_args!(
                    " = {s}: not before the end of the run (duration_s = {}); it would never happen",
                    self.duration_s
                ),
            ));
        }
        Ok(s)
    }

    fn fleet(&self, i: usize, f: &FleetFile, segs: &[Segment]) -> R<Fleet> {
        let path = format!("fleet[{i}]");
        self.segment_ref(&f.segment, &format!("{path}.segment"), segs)?;
        let count = *f.count.get_ref();
        if !(1..=MAX_COUNT).contains(&count) {
            return Err(self.err(
                f.count.span(),
                &format!("{path}.count"),
                format_args!(" = {count}: a fleet has 1 to {MAX_COUNT} clients"),
            ));
        }
        let profile = f.profile.get_ref();
        if !profile_ids().contains(&profile.as_str()) {
            return Err(self.err(
                f.profile.span(),
                &format!("{path}.profile"),
                format_args!(
                    " = {profile:?}: no such firmware profile (profiles: {}){}",
                    list(profile_ids().iter().copied()),
                    did_you_mean(profile, profile_ids().iter().copied())
                ),
            ));
        }
        let mut quirks = Vec::new();
        for (j, q) in f.quirks.iter().enumerate() {
            let qpath = format!("{path}.quirks[{j}]");
            let Some(quirk) = quirk_from_id(q.get_ref()) else {
                if let Some(e) = crate::firmware::catalog_entry(q.get_ref()) {
                    let how = match e.status {
                        crate::firmware::QuirkStatus::Implemented { knob } => {
                            format!("it is switched on by {knob}")
                        }
                        crate::firmware::QuirkStatus::NotModelled { why } => {
                            format!("it is not modelled: {why}")
                        }
                    };
                    return Err(self.err(
                        q.span(),
                        &qpath,
                        format_args!(
                            " = {:?}: not a per-fleet quirk ({}); {how} (see `pxelab quirks`)",
                            q.get_ref(),
                            e.research
                        ),
                    ));
                }
                return Err(self.err(
                    q.span(),
                    &qpath,
                    format_args!(
                        " = {:?}: no such quirk (quirks: {}){}",
                        q.get_ref(),
                        list(quirk_ids()),
                        did_you_mean(q.get_ref(), quirk_ids())
                    ),
                ));
            };
            if quirks.contains(&quirk) {
                return Err(self.err(
                    q.span(),
                    &qpath,
                    format_args!(" = {:?}: listed twice", q.get_ref()),
                ));
            }
            quirks.push(quirk);
        }
        let mac_prefix = match &f.mac_prefix {
            None => None,
            Some(p) => Some(self.mac_prefix(p, &format!("{path}.mac_prefix"))?),
        };
        let machine = self.machine(&path, f)?;
        let fleet = Fleet {
            machine,
            name: f.name.get_ref().clone(),
            segment: f.segment.get_ref().clone(),
            count,
            profile: profile.clone(),
            quirks,
            mac_prefix,
            uuid: f.uuid,
            power_on_s: self.seconds(&f.power_on_s, &format!("{path}.power_on_s"), true)?,
            power_on_spread_s: self.seconds(
                &f.power_on_spread_s,
                &format!("{path}.power_on_spread_s"),
                false,
            )?,
            post_s: self.seconds(&f.post_s, &format!("{path}.post_s"), false)?,
            link: f
                .link
                .as_ref()
                .map(|l| self.link(l, &format!("{path}.link")))
                .transpose()?,
        };
        // The index must fit in the bytes the prefix leaves.
        if fleet.mac_prefix.is_none() && i > 0xff {
            return Err(self.err(
                f.name.span(),
                &format!("{path}.mac_prefix"),
                ": missing: the default prefix 52:54:00:<fleet number> only covers the first 256 fleets; give this fleet a mac_prefix",
            ));
        }
        let prefix = fleet.prefix_bytes(i);
        let room = 1u64 << (8 * (6 - prefix.len()));
        if u64::from(count) > room {
            let shown = hex_bytes(&prefix);
            let hint = if f.mac_prefix.is_some() {
                "use a shorter mac_prefix"
            } else {
                "give a shorter mac_prefix such as \"52:54\""
            };
            return Err(self.err(
                f.count.span(),
                &format!("{path}.count"),
                format_args!(
                    " = {count}: the MAC prefix {shown} leaves {} byte(s) for the client index, room for {room} clients; {hint}",
                    6 - prefix.len()
                ),
            ));
        }
        Ok(fleet)
    }

    fn mac_prefix(&self, p: &Spanned<String>, path: &str) -> R<Vec<u8>> {
        let text = p.get_ref();
        let bytes: Option<Vec<u8>> = text
            .split([':', '-'])
            .map(|b| {
                (b.len() == 2)
                    .then(|| u8::from_str_radix(b, 16).ok())
                    .flatten()
            })
            .collect();
        match bytes {
            Some(b) if (1..=4).contains(&b.len()) => {
                if b[0] & 1 == 1 {
                    return Err(self.err(
                        p.span(),
                        path,
                        format_args!(
                            " = {text:?}: the first byte is odd, which makes every MAC multicast; clients need unicast MACs (e.g. \"52:54:00:10\")"
                        ),
                    ));
                }
                Ok(b)
            }
            _ => Err(self.err(
                p.span(),
                path,
                format_args!(" = {text:?}: expected 1 to 4 hex bytes separated by ':' such as \"52:54:00:10\""),
            )),
        }
    }

    /// No two fleets may share a MAC: the servers and the report tell clients
    /// apart by MAC.
    fn macs_disjoint(&self, fleets: &[Fleet]) -> R<()> {
        let ranges: Vec<(u64, u64)> = fleets
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let first = mac_u64(f.mac(i, 0));
                (first, first + u64::from(f.count) - 1)
            })
            .collect();
        for (i, a) in ranges.iter().enumerate() {
            for (j, b) in ranges.iter().enumerate().take(i) {
                if a.0 <= b.1 && b.0 <= a.1 {
                    let f = &self.fleets[i];
                    let span = f.mac_prefix.as_ref().map_or(f.name.span(), |p| p.span());
                    return Err(self.err(
                        span,
                        &format!("fleet[{i}].mac_prefix"),
                        format_args!(
                            ": MACs {}..{} overlap those of fleet {:?} ({}..{}); give one of them another mac_prefix",
                            u64_mac(a.0),
                            u64_mac(a.1),
                            fleets[j].name,
                            u64_mac(b.0),
                            u64_mac(b.1)
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn server(&self, i: usize, s: &ServerFile, segs: &[Segment]) -> R<Server> {
        let path = format!("server[{i}]");
        let p = |k: &str| format!("{path}.{k}");
        let seg = self.segment_ref(&s.segment, &p("segment"), segs)?;
        let kind = *s.kind.get_ref();
        let address = *s.address.get_ref();
        // A rogue brings its own addressing (a home router plugged into the lab):
        // its address and pool need only share a subnet of the segment's size.
        let subnet = if kind == ServerKind::Rogue {
            Subnet {
                addr: Ipv4Addr::from(u32::from(address) & mask_bits(seg.subnet.prefix)),
                prefix: seg.subnet.prefix,
            }
        } else {
            seg.subnet
        };
        if kind == ServerKind::Rogue && !subnet.is_host(address) {
            return Err(self.err(
                s.address.span(),
                &p("address"),
                format_args!(
                    " = {address}: the network or broadcast address of its subnet {subnet}"
                ),
            ));
        }
        if !subnet.is_host(address) {
            let why = if seg.subnet.contains(address) {
                "the network or broadcast address"
            } else {
                "outside the subnet"
            };
            return Err(self.err(
                s.address.span(),
                &p("address"),
                format_args!(
                    " = {address}: {why} of segment {:?} ({}); use a host address such as {}",
                    seg.name,
                    seg.subnet,
                    Ipv4Addr::from(u32::from(seg.subnet.addr) + 2)
                ),
            ));
        }
        self.kind_fields(s, &path)?;
        let quirks = self.server_quirks(s, &path)?;
        let respond_delay_ms = s.respond_delay_ms.as_ref().map_or(0, |d| *d.get_ref());
        let link = s
            .link
            .as_ref()
            .map(|l| self.link(l, &p("link")))
            .transpose()?;
        let ignore = s
            .ignore
            .iter()
            .enumerate()
            .map(|(j, m)| {
                Mac::from_str(m.get_ref()).map_err(|e| {
                    self.err(
                        m.span(),
                        &format!("{path}.ignore[{j}]"),
                        format_args!(": {e}"),
                    )
                })
            })
            .collect::<R<Vec<_>>>()?;
        for (j, f) in s.ignore_fleets.iter().enumerate() {
            self.fleet_ref(f, &format!("{path}.ignore_fleets[{j}]"))?;
        }
        for (j, f) in s.allow_fleets.iter().enumerate() {
            self.fleet_ref(f, &format!("{path}.allow_fleets[{j}]"))?;
        }
        for (j, f) in s.pxe_ignore_fleets.iter().enumerate() {
            self.fleet_ref(f, &format!("{path}.pxe_ignore_fleets[{j}]"))?;
        }
        let files = s
            .files
            .iter()
            .enumerate()
            .map(|(j, f)| self.file(f, &format!("{path}.file[{j}]")))
            .collect::<R<Vec<_>>>()?;
        for (j, f) in s.files.iter().enumerate() {
            if let Some(k) = s.files[..j]
                .iter()
                .position(|g| g.name.get_ref() == f.name.get_ref())
            {
                return Err(self.err(
                    f.name.span(),
                    &format!("{path}.file[{j}].name"),
                    format_args!(
                        " = {:?}: already listed as {path}.file[{k}]",
                        f.name.get_ref()
                    ),
                ));
            }
        }

        let pool = match &s.pool {
            Some(v) => Some(self.pool(v, &p("pool"), &subnet, address)?),
            None => None,
        };
        let example_pool = || {
            let base = u32::from(subnet.addr);
            let hosts = !mask_bits(subnet.prefix);
            let first = Ipv4Addr::from(base + (hosts.div_ceil(2)).max(2));
            let last = Ipv4Addr::from(base + hosts - 1);
            format!("{first}-{last}")
        };
        let pool_required = |what: &str| {
            self.err(
                s.kind.span(),
                &p("pool"),
                format_args!(
                    ": missing: {what} needs an address pool, e.g. pool = \"{}\"",
                    example_pool()
                ),
            )
        };
        let foreign = |pool: Option<PoolConfig>| -> R<ForeignSpec> {
            let pool = pool.ok_or_else(|| pool_required(&format!("kind = \"{kind}\"")))?;
            let lease_time_s = match &s.lease_time_s {
                None => 3600,
                Some(v) if *v.get_ref() > 0 => *v.get_ref(),
                Some(v) => {
                    return Err(self.err(v.span(), &p("lease_time_s"), ": must be > 0 seconds"));
                }
            };
            Ok(ForeignSpec {
                pool: (pool.first, pool.last),
                router: s.router.as_ref().map(|r| *r.get_ref()),
                dns: s
                    .dns
                    .as_ref()
                    .map(|d| d.get_ref().clone())
                    .unwrap_or_default(),
                lease_time_s,
                stray_option60: s.stray_option60.as_ref().is_some_and(|v| *v.get_ref())
                    || quirks.contains(&"stray-option60"),
            })
        };
        let role = match kind {
            ServerKind::Reference => {
                let mode = s.mode.as_ref().map_or(RefMode::Full, |m| *m.get_ref());
                match (mode, &pool, &s.pool) {
                    (RefMode::Full, None, _) => {
                        return Err(pool_required("a full-mode reference server"));
                    }
                    (RefMode::Proxy, Some(_), Some(v)) => {
                        return Err(self.err(
                            v.span(),
                            &p("pool"),
                            ": a proxy-mode server leases no addresses (PXE 2.1 ProxyDHCP); remove pool, or set mode = \"full\"",
                        ));
                    }
                    _ => {}
                }
                if let Some(d) = &s.dhcp {
                    self.reservations(d, &p("dhcp"), &subnet)?;
                }
                let mut dhcp = s
                    .dhcp
                    .as_ref()
                    .map(|d| d.get_ref().clone())
                    .unwrap_or_default();
                if let (Some(d), Some(top)) = (&s.dhcp, &s.respond_delay_ms)
                    && d.get_ref().respond_delay_ms != DhcpSettings::default().respond_delay_ms
                    && d.get_ref().respond_delay_ms != *top.get_ref()
                {
                    return Err(self.err(
                        top.span(),
                        &p("respond_delay_ms"),
                        format_args!(
                            " = {}: dhcp.respond_delay_ms = {} says otherwise; give the delay once",
                            top.get_ref(),
                            d.get_ref().respond_delay_ms
                        ),
                    ));
                }
                let respond_delay_ms = if s.respond_delay_ms.is_some() {
                    respond_delay_ms
                } else {
                    dhcp.respond_delay_ms
                };
                dhcp.respond_delay_ms = respond_delay_ms;
                let boot = s
                    .boot
                    .as_ref()
                    .map(|b| b.get_ref().clone())
                    .unwrap_or_default();
                return Ok(Server {
                    name: s.name.get_ref().clone(),
                    segment: seg.name.clone(),
                    address,
                    respond_delay_ms,
                    link,
                    ignore,
                    ignore_fleets: names(&s.ignore_fleets),
                    allow_fleets: names(&s.allow_fleets),
                    files,
                    role: ServerRole::Reference {
                        mode,
                        pool,
                        dhcp,
                        boot,
                    },
                });
            }
            ServerKind::Dhcp => ServerRole::Dhcp(foreign(pool)?),
            ServerKind::Rogue => ServerRole::Rogue(foreign(pool)?),
            ServerKind::DhcpPxe => {
                let fs = foreign(pool)?;
                let required = |v: &Option<Spanned<String>>, key: &str, eg: &str| -> R<String> {
                    match v {
                        Some(x) if !x.get_ref().is_empty() => Ok(x.get_ref().clone()),
                        Some(x) => Err(self.err(x.span(), &p(key), ": must not be empty")),
                        None => Err(self.err(
                            s.kind.span(),
                            &p(key),
                            format_args!(
                                ": missing: kind = \"dhcp-pxe\" needs {key}, e.g. {key} = \"{eg}\""
                            ),
                        )),
                    }
                };
                let pxe = PxeSpec {
                    next_server: s.next_server.as_ref().map(|n| *n.get_ref()),
                    bios_file: required(&s.bios_file, "bios_file", "undionly.kpxe")?,
                    efi_file: required(&s.efi_file, "efi_file", "ipxe.efi")?,
                    ipxe_file: s.ipxe_file.as_ref().map(|f| f.get_ref().clone()),
                    pxe_ignore_fleets: names(&s.pxe_ignore_fleets),
                };
                if let Some(n) = &s.next_server {
                    let ip = *n.get_ref();
                    if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() {
                        return Err(self.err(
                            n.span(),
                            &p("next_server"),
                            format_args!(" = {ip}: must be a host's address (the TFTP server)"),
                        ));
                    }
                }
                ServerRole::DhcpPxe(fs, pxe)
            }
        };
        Ok(Server {
            name: s.name.get_ref().clone(),
            segment: seg.name.clone(),
            address,
            respond_delay_ms,
            link,
            ignore,
            ignore_fleets: names(&s.ignore_fleets),
            allow_fleets: names(&s.allow_fleets),
            files,
            role,
        })
    }

    /// A `[[server]]`'s quirk ids: each a server quirk of the catalogue, once.
    fn server_quirks(&self, s: &ServerFile, path: &str) -> R<Vec<&'static str>> {
        let mut out: Vec<&'static str> = Vec::new();
        for (j, q) in s.quirks.iter().enumerate() {
            let qpath = format!("{path}.quirks[{j}]");
            let id = q.get_ref().as_str();
            let Some(known) = server_quirk_ids().find(|k| *k == id) else {
                let why = match crate::firmware::catalog_entry(id) {
                    Some(e) => format!(
                        "not a per-server quirk ({}, switched on by {})",
                        e.research,
                        match e.status {
                            crate::firmware::QuirkStatus::Implemented { knob } => knob,
                            crate::firmware::QuirkStatus::NotModelled { .. } =>
                                "nothing: not modelled",
                        }
                    ),
                    None => format!(
                        "no such server quirk (server quirks: {}){}",
                        list(server_quirk_ids()),
                        did_you_mean(id, server_quirk_ids())
                    ),
                };
                return Err(self.err(
                    q.span(),
                    &qpath,
                    format_args!(" = {id:?}: {why} (see `pxelab quirks`)"),
                ));
            };
            if out.contains(&known) {
                return Err(self.err(q.span(), &qpath, format_args!(" = {id:?}: listed twice")));
            }
            out.push(known);
        }
        Ok(out)
    }

    /// A key given to a kind it does not apply to is an error, not silently
    /// ignored: it would otherwise look as if the file configured something.
    fn kind_fields(&self, s: &ServerFile, path: &str) -> R<()> {
        use ServerKind::*;
        let kind = *s.kind.get_ref();
        let span = |o: &Option<Range<usize>>| o.clone();
        let first_span = |v: &[Spanned<String>]| v.first().map(|x| x.span());
        let fields: [KindKey<'_>; 15] = [
            (
                "mode",
                span(&s.mode.as_ref().map(|x| x.span())),
                &[Reference],
            ),
            (
                "dhcp",
                span(&s.dhcp.as_ref().map(|x| x.span())),
                &[Reference],
            ),
            (
                "boot",
                span(&s.boot.as_ref().map(|x| x.span())),
                &[Reference],
            ),
            ("allow_fleets", first_span(&s.allow_fleets), &[Reference]),
            (
                "router",
                span(&s.router.as_ref().map(|x| x.span())),
                &[Dhcp, DhcpPxe, Rogue],
            ),
            (
                "dns",
                span(&s.dns.as_ref().map(|x| x.span())),
                &[Dhcp, DhcpPxe, Rogue],
            ),
            (
                "lease_time_s",
                span(&s.lease_time_s.as_ref().map(|x| x.span())),
                &[Dhcp, DhcpPxe, Rogue],
            ),
            (
                "stray_option60",
                span(&s.stray_option60.as_ref().map(|x| x.span())),
                &[Dhcp, DhcpPxe, Rogue],
            ),
            ("quirks", first_span(&s.quirks), &[Dhcp, DhcpPxe, Rogue]),
            (
                "next_server",
                span(&s.next_server.as_ref().map(|x| x.span())),
                &[DhcpPxe],
            ),
            (
                "bios_file",
                span(&s.bios_file.as_ref().map(|x| x.span())),
                &[DhcpPxe],
            ),
            (
                "efi_file",
                span(&s.efi_file.as_ref().map(|x| x.span())),
                &[DhcpPxe],
            ),
            (
                "ipxe_file",
                span(&s.ipxe_file.as_ref().map(|x| x.span())),
                &[DhcpPxe],
            ),
            (
                "pxe_ignore_fleets",
                first_span(&s.pxe_ignore_fleets),
                &[DhcpPxe],
            ),
            (
                "file",
                s.files.first().map(|f| f.name.span()),
                &[Reference, DhcpPxe],
            ),
        ];
        for (key, given, kinds) in fields {
            if let Some(sp) = given
                && !kinds.contains(&kind)
            {
                let for_kinds = list(kinds.iter().map(|k| k.id()));
                let key_shown = if key == "file" {
                    "[[server.file]]"
                } else {
                    key
                };
                return Err(self.err(
                    sp,
                    &format!("{path}.{key}"),
                    format_args!(
                        ": {key_shown} applies to kind {for_kinds} only, and this server is kind = \"{kind}\""
                    ),
                ));
            }
        }
        Ok(())
    }

    fn pool(
        &self,
        v: &Spanned<String>,
        path: &str,
        subnet: &Subnet,
        server: Ipv4Addr,
    ) -> R<PoolConfig> {
        let pool = PoolConfig::from_str(v.get_ref())
            .map_err(|e| self.err(v.span(), path, format_args!(": {e}")))?;
        for end in [pool.first, pool.last] {
            if !subnet.is_host(end) {
                return Err(self.err(
                    v.span(),
                    path,
                    format_args!(
                        " = {:?}: {end} is not a host address of {subnet}",
                        v.get_ref()
                    ),
                ));
            }
        }
        if (pool.first..=pool.last).contains(&server) {
            return Err(self.err(
                v.span(),
                path,
                format_args!(
                    " = {:?}: contains the server's own address {server}; it would lease it to a client",
                    v.get_ref()
                ),
            ));
        }
        Ok(pool)
    }

    /// The reference server refuses, when it starts, a reservation outside its
    /// subnet or given twice (`ConfigError`); saying so here points at the file.
    fn reservations(&self, d: &Spanned<DhcpSettings>, path: &str, subnet: &Subnet) -> R<()> {
        let rs = &d.get_ref().reservations;
        for (j, r) in rs.iter().enumerate() {
            let field = format!("{path}.reservations[{j}]");
            if !subnet.is_host(r.ip) {
                return Err(self.err(
                    d.span(),
                    &format!("{field}.ip"),
                    format_args!(" = {}: not a host address of {subnet}", r.ip),
                ));
            }
            if let Some(k) = rs[..j].iter().position(|o| o.ip == r.ip || o.mac == r.mac) {
                return Err(self.err(
                    d.span(),
                    &field,
                    format_args!(
                        ": {} / {} is already reserved by {path}.reservations[{k}]",
                        r.mac, r.ip
                    ),
                ));
            }
        }
        Ok(())
    }

    fn file(&self, f: &FileFile, path: &str) -> R<FileSpec> {
        let size = *f.size.get_ref();
        if !(1..=MAX_FILE_SIZE).contains(&size) {
            return Err(self.err(
                f.size.span(),
                &format!("{path}.size"),
                format_args!(" = {size}: bytes, from 1 to {MAX_FILE_SIZE} (256 MiB)"),
            ));
        }
        if f.name.get_ref().is_empty() {
            return Err(self.err(
                f.name.span(),
                &format!("{path}.name"),
                ": must not be empty",
            ));
        }
        Ok(FileSpec {
            name: f.name.get_ref().clone(),
            nbp: f.nbp,
            size,
        })
    }

    /// Two servers on one segment with one address would split ARP answers.
    fn addresses_unique(&self, servers: &[Server]) -> R<()> {
        for (i, s) in servers.iter().enumerate() {
            if let Some(j) = servers[..i]
                .iter()
                .position(|o| o.segment == s.segment && o.address == s.address)
            {
                return Err(self.err(
                    self.servers[i].address.span(),
                    &format!("server[{i}].address"),
                    format_args!(
                        " = {}: already the address of server {:?} on segment {:?}",
                        s.address, servers[j].name, s.segment
                    ),
                ));
            }
        }
        Ok(())
    }

    fn fault(&self, i: usize, f: &FaultFile) -> R<Fault> {
        let path = format!("fault[{i}]");
        let at_s = self.seconds(&Some(f.at_s.clone()), &format!("{path}.at_s"), true)?;
        let kind = *f.kind.get_ref();
        let tpath = format!("{path}.target");
        if kind.targets_server() {
            self.server_ref(&f.target, &tpath)?;
        } else {
            self.fleet_ref(&f.target, &tpath)?;
        }
        Ok(Fault {
            at_s,
            kind,
            target: f.target.get_ref().clone(),
        })
    }

    fn expect(&self, i: usize, e: &ExpectFile, fleets: &[Fleet]) -> R<Expect> {
        let path = format!("expect[{i}]");
        let p = |k: &str| format!("{path}.{k}");
        match (&e.fleet, &e.finding) {
            (Some(fleet), None) => {
                self.fleet_ref(fleet, &p("fleet"))?;
                if let Some(x) = &e.present {
                    return Err(self.err(
                        x.span(),
                        &p("present"),
                        ": goes with finding = \"...\", not with fleet",
                    ));
                }
                let spec = fleets.iter().find(|f| &f.name == fleet.get_ref());
                let size = spec.map_or(0, |f| f.count);
                let managed = spec.is_some_and(|f| f.machine.is_some());
                let count = |v: &Option<Spanned<CountFile>>, key: &str| {
                    v.as_ref()
                        .map(|b| self.count(b, &p(key), fleet.get_ref(), size))
                        .transpose()
                };
                // Jobs, images and registrations exist only where agents talk
                // to a Deployment Server.
                let managed_count = |v: &Option<Spanned<CountFile>>, key: &str| {
                    if let Some(x) = v
                        && !managed
                    {
                        return Err(self.err(
                            x.span(),
                            &p(key),
                            format_args!(
                                ": counts managed machines, and fleet {:?} has no deployment key (it runs no agent)",
                                fleet.get_ref()
                            ),
                        ));
                    }
                    count(v, key)
                };
                let booted = count(&e.booted, "booted")?;
                let jobs_succeeded = managed_count(&e.jobs_succeeded, "jobs_succeeded")?;
                let jobs_failed = managed_count(&e.jobs_failed, "jobs_failed")?;
                let jobs_refused = managed_count(&e.jobs_refused, "jobs_refused")?;
                let imaged = managed_count(&e.imaged, "imaged")?;
                let registered = managed_count(&e.registered, "registered")?;
                let looping = count(&e.looping, "looping")?;
                if let Some(b) = &e.booted_from {
                    self.server_ref(b, &p("booted_from"))?;
                }
                if let Some(x) = &e.error {
                    let code = x.get_ref();
                    if crate::firmware::PxeError::from_code(code).is_none() {
                        let codes: Vec<&str> = crate::firmware::PxeError::ALL
                            .iter()
                            .map(|e| e.code())
                            .collect();
                        let hint = did_you_mean(code, codes.iter().copied());
                        return Err(self.err(
                            x.span(),
                            &p("error"),
                            format_args!(
                                " = {code:?}: not an error a client shows (known: {}){hint}",
                                codes.join(", ")
                            ),
                        ));
                    }
                }
                if e.booted.is_none()
                    && e.booted_from.is_none()
                    && e.error.is_none()
                    && e.looping.is_none()
                    && [
                        &jobs_succeeded,
                        &jobs_failed,
                        &jobs_refused,
                        &imaged,
                        &registered,
                    ]
                    .iter()
                    .all(|c| c.is_none())
                {
                    let keys = if managed {
                        "booted, booted_from, error, looping, jobs_succeeded, jobs_failed, jobs_refused, imaged or registered"
                    } else {
                        "booted, booted_from, error or looping"
                    };
                    return Err(self.err(
                        fleet.span(),
                        &path,
                        format_args!(": expects nothing about the fleet; add {keys}"),
                    ));
                }
                Ok(Expect::Fleet {
                    jobs_succeeded,
                    jobs_failed,
                    jobs_refused,
                    imaged,
                    registered,
                    looping,
                    fleet: fleet.get_ref().clone(),
                    booted,
                    booted_from: e.booted_from.as_ref().map(|b| b.get_ref().clone()),
                    error: e.error.as_ref().map(|x| x.get_ref().clone()),
                    line: self.loc.line(fleet.span().start),
                })
            }
            (None, Some(finding)) => {
                let fleet_only = fleet_keys(e);
                for (key, sp) in fleet_only {
                    if let Some(sp) = sp {
                        return Err(self.err(
                            sp,
                            &p(key),
                            ": goes with fleet = \"...\", not with finding",
                        ));
                    }
                }
                Ok(Expect::Finding {
                    finding: *finding.get_ref(),
                    present: e.present.as_ref().is_none_or(|x| *x.get_ref()),
                    line: self.loc.line(finding.span().start),
                })
            }
            (Some(_), Some(finding)) => Err(self.err(
                finding.span(),
                &p("finding"),
                ": an [[expect]] is about a fleet or a finding, not both; split it in two",
            )),
            (None, None) => {
                let first = fleet_keys(e)
                    .into_iter()
                    .filter_map(|(_, sp)| sp)
                    .chain(e.present.as_ref().map(|x| x.span()))
                    .min_by_key(|sp| sp.start)
                    .unwrap_or(0..0);
                Err(self.err(
                    first,
                    &path,
                    ": needs fleet = \"NAME\" (with booted, booted_from, error, looping, or a managed fleet's jobs_*, imaged, registered) or finding = \"KIND\"",
                ))
            }
        }
    }

    fn count(&self, v: &Spanned<CountFile>, path: &str, fleet: &str, size: u32) -> R<Count> {
        let shown = match v.get_ref() {
            CountFile::Number(n) => n.to_string(),
            CountFile::Text(t) => format!("{t:?}"),
        };
        let bad = || {
            self.err(
                v.span(),
                path,
                format_args!(
                    " = {shown}: expected \"all\", \"none\", a number N, \">=N\" or \"<=N\""
                ),
            )
        };
        let number = |s: &str| -> R<u32> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            s.parse().map_err(|_| bad())
        };
        let count = match v.get_ref() {
            CountFile::Number(n) => Count::Exactly(u32::try_from(*n).map_err(|_| bad())?),
            CountFile::Text(t) => match t.trim() {
                "all" => Count::All,
                "none" => Count::None,
                t if t.starts_with(">=") => Count::AtLeast(number(t[2..].trim())?),
                t if t.starts_with("<=") => Count::AtMost(number(t[2..].trim())?),
                t => Count::Exactly(number(t)?),
            },
        };
        if count.minimum() > size {
            return Err(self.err(
                v.span(),
                path,
                format_args!(" = {shown}: can never hold, fleet {fleet:?} has {size} client(s)"),
            ));
        }
        Ok(count)
    }
}

/// The deployment plane: managed machines, `[[deployment]]` and its images
/// and jobs.
impl Checker<'_> {
    /// Seconds >= 0 with a default when absent.
    fn seconds_or(&self, v: &Option<Spanned<f64>>, path: &str, default: f64) -> R<f64> {
        match v {
            None => Ok(default),
            Some(_) => self.seconds(v, path, false),
        }
    }

    /// The computer around a fleet's NICs. Its keys mean nothing without a
    /// Deployment Server whose agents they run, so each one needs `deployment`.
    fn machine(&self, path: &str, f: &FleetFile) -> R<Option<MachineSpec>> {
        let p = |k: &str| format!("{path}.{k}");
        let Some(dep) = &f.deployment else {
            return match f.machine_keys().first() {
                Some((key, sp)) => Err(self.err(
                    sp.clone(),
                    &p(key),
                    format_args!(
                        ": describes a managed machine, which needs deployment = \"NAME\" on this fleet (deployments: {})",
                        list(self.deployment_names())
                    ),
                )),
                None => Ok(None),
            };
        };
        self.name_ref(
            dep,
            &p("deployment"),
            ("deployment", "deployments"),
            self.deployment_names(),
            ("server", self.server_names()),
        )?;
        let disk_size = match &f.disk_gib {
            None => 40 * GIB as u64,
            Some(x) => {
                let gib = *x.get_ref();
                let bytes = gib * GIB;
                // Whole sectors only: a disk has no partial sector.
                let size = if gib.is_finite() && gib > 0.0 && gib <= MAX_DISK_GIB {
                    (bytes as u64) / SECTOR * SECTOR
                } else {
                    0
                };
                if size == 0 {
                    return Err(self.err(
                        x.span(),
                        &p("disk_gib"),
                        format_args!(
                            " = {gib}: GiB, > 0 (at least one 512-byte sector) and <= {MAX_DISK_GIB} (16 TiB)"
                        ),
                    ));
                }
                size
            }
        };
        let os = match &f.os {
            None => None,
            Some(x) if x.get_ref().trim().is_empty() => {
                return Err(self.err(
                    x.span(),
                    &p("os"),
                    ": must not be empty; leave os out for a blank disk",
                ));
            }
            Some(x) => Some(x.get_ref().clone()),
        };
        Ok(Some(MachineSpec {
            deployment: dep.get_ref().clone(),
            registered: f.registered.as_ref().is_none_or(|x| *x.get_ref()),
            share_access: f.share_access.as_ref().is_none_or(|x| *x.get_ref()),
            boot_order: f
                .boot_order
                .as_ref()
                .map_or_else(BootOrder::default, |x| *x.get_ref()),
            bootworks: f
                .bootworks
                .as_ref()
                .map_or_else(BootworksPath::default, |x| *x.get_ref()),
            disk_size,
            os,
            os_boot_s: self.seconds_or(&f.os_boot_s, &p("os_boot_s"), 40.0)?,
            reboot_s: self.seconds_or(&f.reboot_s, &p("reboot_s"), 30.0)?,
            bootworks_boot_s: self.seconds_or(&f.bootworks_boot_s, &p("bootworks_boot_s"), 15.0)?,
        }))
    }

    fn deployment(
        &self,
        i: usize,
        d: &DeploymentFile,
        fleets: &[Fleet],
        before: &[Deployment],
    ) -> R<Deployment> {
        let path = format!("deployment[{i}]");
        let p = |k: &str| format!("{path}.{k}");
        let name = d.name.get_ref();
        self.name_ok(&d.name, &p("name"))?;
        if let Some(k) = before.iter().position(|o| &o.name == name) {
            return Err(self.err(
                d.name.span(),
                &p("name"),
                format_args!(
                    " = {name:?}: already the name of deployment[{k}] (line {})",
                    self.loc.line(self.deployments[k].name.span().start)
                ),
            ));
        }
        self.server_ref(&d.server, &p("server"))?;

        let mode = d
            .mode
            .as_ref()
            .map_or_else(DeployMode::default, |m| *m.get_ref());
        let mode_id = match mode {
            DeployMode::Reference => "reference",
            DeployMode::Legacy => "legacy",
        };
        if let Some(x) = &d.trust_uuid
            && mode != DeployMode::Legacy
        {
            return Err(self.err(
                x.span(),
                &p("trust_uuid"),
                format_args!(
                    ": applies to mode = \"legacy\" only (Deployment Server 6.x matched computers by SMBIOS UUID), and this deployment is mode = \"{mode_id}\""
                ),
            ));
        }
        let max_attempts = match &d.max_attempts {
            None => 3,
            Some(x) if mode != DeployMode::Reference => {
                return Err(self.err(
                    x.span(),
                    &p("max_attempts"),
                    format_args!(
                        ": applies to mode = \"reference\" only, and this deployment is mode = \"{mode_id}\""
                    ),
                ));
            }
            Some(x) if (1..=MAX_ATTEMPTS).contains(x.get_ref()) => *x.get_ref(),
            Some(x) => {
                return Err(self.err(
                    x.span(),
                    &p("max_attempts"),
                    format_args!(" = {}: from 1 to {MAX_ATTEMPTS}", x.get_ref()),
                ));
            }
        };
        let transfer = self.transfer(d, &path)?;

        let mut images: Vec<ImageSpec> = Vec::new();
        for (j, img) in d.images.iter().enumerate() {
            images.push(self.image(img, &format!("{path}.image[{j}]"), &d.images[..j])?);
        }
        let unregistered: Vec<&Fleet> = fleets
            .iter()
            .filter(|f| {
                f.machine
                    .as_ref()
                    .is_some_and(|m| &m.deployment == name && !m.registered)
            })
            .collect();
        let initial_deployment = match &d.initial_deployment {
            None => None,
            Some(init) => {
                let ipath = p("initial_deployment");
                let keys = init.get_ref().kind_keys();
                let kind = self.job_kind(&keys, &ipath, name, &d.images, &images)?;
                // Only machines the server does not know get it.
                for f in &unregistered {
                    self.image_fits(&kind, &keys, &ipath, f, &images)?;
                }
                Some(kind)
            }
        };

        let mut jobs = Vec::new();
        for (j, job) in d.jobs.iter().enumerate() {
            let jpath = format!("{path}.job[{j}]");
            let jf = job.get_ref();
            let fpath = format!("{jpath}.fleet");
            self.fleet_ref(&jf.fleet, &fpath)?;
            let fleet = fleets
                .iter()
                .find(|f| &f.name == jf.fleet.get_ref())
                .ok_or_else(|| self.err(jf.fleet.span(), &fpath, ": no such fleet"))?;
            match &fleet.machine {
                Some(m) if &m.deployment == name => {}
                other => {
                    let why = match other {
                        Some(m) => format!(
                            "uses deployment {:?}, so its agents never talk to this one",
                            m.deployment
                        ),
                        None => "has no deployment key, so it runs no agent".to_string(),
                    };
                    return Err(self.err(
                        jf.fleet.span(),
                        &fpath,
                        format_args!(
                            " = {:?}: that fleet {why}; set deployment = {name:?} on the fleet, or schedule the job on the deployment it uses",
                            jf.fleet.get_ref()
                        ),
                    ));
                }
            }
            let keys = jf.kind_keys();
            let kind = self.job_kind(&keys, &jpath, name, &d.images, &images)?;
            self.image_fits(&kind, &keys, &jpath, fleet, &images)?;
            let post_name = match &jf.post_name {
                None => None,
                Some(x) if x.get_ref().trim().is_empty() => {
                    return Err(self.err(
                        x.span(),
                        &format!("{jpath}.post_name"),
                        ": must not be empty; leave it out to keep the machine's name",
                    ));
                }
                Some(x) => Some(x.get_ref().clone()),
            };
            let machine = match &jf.machine {
                Some(x) if *x.get_ref() >= fleet.count => {
                    return Err(self.err(
                        x.span(),
                        &format!("{jpath}.machine"),
                        format_args!(
                            " = {}: fleet {} has machines 0..={}",
                            x.get_ref(),
                            fleet.name,
                            fleet.count - 1
                        ),
                    ));
                }
                other => other.as_ref().map(|x| *x.get_ref()),
            };
            jobs.push(JobSpec {
                fleet: fleet.name.clone(),
                kind,
                machine,
                post_name,
                line: self.loc.line(job.span().start),
            });
        }

        Ok(Deployment {
            name: name.clone(),
            server: d.server.get_ref().clone(),
            mode,
            trust_uuid: d.trust_uuid.as_ref().is_some_and(|x| *x.get_ref()),
            max_attempts,
            initial_deployment,
            transfer,
            images,
            jobs,
        })
    }

    fn transfer(&self, d: &DeploymentFile, path: &str) -> R<TransferSpec> {
        let p = |k: &str| format!("{path}.{k}");
        let kind = d
            .transfer
            .as_ref()
            .map_or(TransferFile::Unicast, |t| *t.get_ref());
        match (kind, &d.multicast) {
            (TransferFile::Unicast, None) => Ok(TransferSpec::Unicast),
            (TransferFile::Unicast, Some(m)) => Err(self.err(
                m.span(),
                &p("multicast"),
                ": applies to transfer = \"multicast\" only, and this deployment's transfer is \"unicast\"",
            )),
            (TransferFile::Multicast, m) => {
                let m = m.as_ref().map(Spanned::get_ref);
                let min_receivers = match m.and_then(|m| m.min_receivers.as_ref()) {
                    None => 1,
                    Some(x) if *x.get_ref() >= 1 => *x.get_ref(),
                    Some(x) => {
                        return Err(self.err(
                            x.span(),
                            &p("multicast.min_receivers"),
                            format_args!(" = {}: at least 1 receiver", x.get_ref()),
                        ));
                    }
                };
                let max_wait_s = match m.and_then(|m| m.max_wait_s.as_ref()) {
                    None => 60.0,
                    Some(x) => {
                        let v = *x.get_ref();
                        if !(v.is_finite() && v > 0.0 && v <= MAX_DURATION_S) {
                            return Err(self.err(
                                x.span(),
                                &p("multicast.max_wait_s"),
                                format_args!(" = {v}: seconds, > 0 and <= {MAX_DURATION_S}"),
                            ));
                        }
                        v
                    }
                };
                Ok(TransferSpec::Multicast {
                    min_receivers,
                    max_wait_s,
                })
            }
        }
    }

    fn image(&self, img: &ImageFile, path: &str, before: &[ImageFile]) -> R<ImageSpec> {
        let name = img.name.get_ref();
        let npath = format!("{path}.name");
        self.name_ok(&img.name, &npath)?;
        if let Some(o) = before.iter().find(|o| o.name.get_ref() == name) {
            return Err(self.err(
                img.name.span(),
                &npath,
                format_args!(
                    " = {name:?}: already an image of this deployment (line {})",
                    self.loc.line(o.name.span().start)
                ),
            ));
        }
        let mib = *img.size_mib.get_ref();
        let size = if mib.is_finite() && mib > 0.0 && mib <= MAX_IMAGE_MIB {
            (mib * MIB).round() as u64
        } else {
            0
        };
        if size == 0 {
            return Err(self.err(
                img.size_mib.span(),
                &format!("{path}.size_mib"),
                format_args!(
                    " = {mib}: MiB, > 0 and <= {MAX_IMAGE_MIB} (1 TiB); fractions are fine (0.5 is 512 KiB)"
                ),
            ));
        }
        Ok(ImageSpec {
            name: name.clone(),
            size,
        })
    }

    /// A job's kind and its argument, for `[[deployment.job]]` and
    /// `initial_deployment` alike: the argument key of the kind is required,
    /// the others are refused, and images are checked against the store.
    fn job_kind(
        &self,
        k: &JobKindKeys<'_>,
        path: &str,
        deployment: &str,
        store: &[ImageFile],
        images: &[ImageSpec],
    ) -> R<JobKindSpec> {
        use JobKindFile::*;
        let kind = *k.kind.get_ref();
        let p = |key: &str| format!("{path}.{key}");
        let args: [ArgKey<'_>; 3] = [
            ("image", k.image, &[DeployImage, CaptureImage], "xp-sysprep"),
            ("os", k.os, &[ScriptedInstall], "Windows XP SP2"),
            ("script", k.script, &[RunScript], "ipconfig /all"),
        ];
        let mut arg = None;
        for (key, given, kinds, eg) in args {
            match given {
                Some(v) if !kinds.contains(&kind) => {
                    return Err(self.err(
                        v.span(),
                        &p(key),
                        format_args!(
                            ": {key} applies to kind {} only, and kind = \"{}\" here",
                            list(kinds.iter().map(|k| k.id())),
                            kind.id()
                        ),
                    ));
                }
                Some(v) if v.get_ref().trim().is_empty() => {
                    return Err(self.err(v.span(), &p(key), ": must not be empty"));
                }
                Some(v) => arg = Some(v),
                None if kinds.contains(&kind) => {
                    return Err(self.err(
                        k.kind.span(),
                        &p(key),
                        format_args!(
                            ": missing: kind = \"{}\" needs {key}, e.g. {key} = \"{eg}\"",
                            kind.id()
                        ),
                    ));
                }
                None => {}
            }
        }
        let text = || arg.map(|a| a.get_ref().clone()).unwrap_or_default();
        let image_names = || images.iter().map(|i| i.name.as_str());
        Ok(match kind {
            DeployImage => {
                let name = text();
                if !images.iter().any(|i| i.name == name) {
                    return Err(self.err(
                        arg.map_or(k.kind.span(), Spanned::span),
                        &p("image"),
                        format_args!(
                            " = {name:?}: no such image in deployment {deployment:?} (images: {}){}",
                            list(image_names()),
                            did_you_mean(&name, image_names())
                        ),
                    ));
                }
                JobKindSpec::DeployImage(name)
            }
            CaptureImage => {
                let name = text();
                if let Some(at) = arg {
                    self.name_ok(at, &p("image"))?;
                }
                if images.iter().any(|i| i.name == name) {
                    let at = store
                        .iter()
                        .find(|i| i.name.get_ref() == &name)
                        .map_or_else(String::new, |i| {
                            format!(" (line {})", self.loc.line(i.name.span().start))
                        });
                    return Err(self.err(
                        arg.map_or(k.kind.span(), Spanned::span),
                        &p("image"),
                        format_args!(
                            " = {name:?}: already in the store{at}; a capture makes a new image, give it a name the store lacks"
                        ),
                    ));
                }
                JobKindSpec::CaptureImage(name)
            }
            ScriptedInstall => JobKindSpec::ScriptedInstall(text()),
            RunScript => JobKindSpec::RunScript(text()),
            BootToProduction => JobKindSpec::BootToProduction,
        })
    }

    /// An image written to a machine's disk must fit beside the hidden
    /// Bootworks partition (and alignment): the disk minus [`DISK_RESERVED`].
    fn image_fits(
        &self,
        kind: &JobKindSpec,
        k: &JobKindKeys<'_>,
        path: &str,
        fleet: &Fleet,
        images: &[ImageSpec],
    ) -> R<()> {
        let (JobKindSpec::DeployImage(name), Some(at), Some(m)) = (kind, k.image, &fleet.machine)
        else {
            return Ok(());
        };
        let Some(img) = images.iter().find(|i| &i.name == name) else {
            return Ok(());
        };
        let room = m.disk_size.saturating_sub(DISK_RESERVED);
        if img.size > room {
            return Err(self.err(
                at.span(),
                &format!("{path}.image"),
                format_args!(
                    " = {name:?}: the image is {}, and fleet {:?}'s disk of {} leaves {} for it (128 MiB go to the hidden partition and alignment); give the fleet a larger disk_gib",
                    bytes(img.size, false),
                    fleet.name,
                    bytes(m.disk_size, true),
                    bytes(room, false)
                ),
            ));
        }
        Ok(())
    }
}

/// The keys of an `[[expect]]` that are about a fleet, with where they were given.
fn fleet_keys(e: &ExpectFile) -> [(&'static str, Option<Range<usize>>); 9] {
    let counts = |v: &Option<Spanned<CountFile>>| v.as_ref().map(Spanned::span);
    [
        ("booted", counts(&e.booted)),
        ("booted_from", e.booted_from.as_ref().map(Spanned::span)),
        ("error", e.error.as_ref().map(Spanned::span)),
        ("jobs_succeeded", counts(&e.jobs_succeeded)),
        ("jobs_failed", counts(&e.jobs_failed)),
        ("jobs_refused", counts(&e.jobs_refused)),
        ("imaged", counts(&e.imaged)),
        ("registered", counts(&e.registered)),
        ("looping", counts(&e.looping)),
    ]
}

/// A size in the unit the file gives it in (GiB for disks, MiB for images)
/// where it is a whole number of them, else in the next unit down.
fn bytes(n: u64, gib: bool) -> String {
    const MIB_U: u64 = 1 << 20;
    const GIB_U: u64 = 1 << 30;
    if gib && n > 0 && n.is_multiple_of(GIB_U) {
        format!("{} GiB", n / GIB_U)
    } else if n > 0 && n.is_multiple_of(MIB_U) {
        format!("{} MiB", n / MIB_U)
    } else {
        format!("{n} bytes")
    }
}

fn names(v: &[Spanned<String>]) -> Vec<String> {
    v.iter().map(|x| x.get_ref().clone()).collect()
}

fn hex_bytes(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn mac_u64(m: Mac) -> u64 {
    m.0.iter().fold(0, |acc, b| (acc << 8) | u64::from(*b))
}

fn u64_mac(v: u64) -> Mac {
    let b = v.to_be_bytes();
    Mac([b[2], b[3], b[4], b[5], b[6], b[7]])
}

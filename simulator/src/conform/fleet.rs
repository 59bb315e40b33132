//! Whole boots by the firmware models, the boot storm, and reply latency.

use std::collections::BTreeMap;
use std::time::Duration;

use super::checks::Check;
use super::host::{self, Boot, BootEnd};
use super::link::LinkError;
use super::report::Latency;
use super::{Ctx, Mode, Verdict, fail, not_in_mode, pass, percentile, skip};
use crate::firmware::Profile;

const BOOTS: &[Mode] = &[Mode::Full, Mode::Proxy];
/// How long a whole boot may take: the PXE 2.1 DISCOVER schedule (4+8+16+32 s)
/// with room for the download.
const BOOT_LIMIT: Duration = Duration::from_secs(120);
/// MAC numbers of the storm start here (the single boots use 1..).
const STORM_MACS: u32 = 0x01_00_00;

fn boots<'c>(ctx: &'c mut Ctx<'_, '_>) -> Result<&'c [Boot], LinkError> {
    if ctx.boots.is_none() {
        let profiles: Vec<Profile> = Profile::builtin_ids()
            .iter()
            .filter(|id| ctx.opts.profile_selected(id))
            .filter_map(|id| Profile::builtin(id))
            .collect();
        // One at a time: a firmware's offer rule may wait for every server,
        // and running them together would mix their timings.
        let mut all = Vec::new();
        for (i, p) in profiles.into_iter().enumerate() {
            let b = host::boot_fleet(ctx.bench, &[p], 1 + i as u32, ctx.opts.seed, BOOT_LIMIT)?;
            all.extend(b);
        }
        ctx.boots = Some(all);
    }
    Ok(ctx.boots.as_deref().unwrap_or_default())
}

fn storm<'c>(ctx: &'c mut Ctx<'_, '_>) -> Result<&'c [Boot], LinkError> {
    if ctx.storm.is_none() {
        let ids: Vec<&str> = Profile::builtin_ids()
            .iter()
            .copied()
            .filter(|id| ctx.opts.profile_selected(id))
            .collect();
        let profiles: Vec<Profile> = (0..ctx.opts.clients)
            .filter_map(|i| Profile::builtin(ids[i % ids.len().max(1)]))
            .collect();
        let b = host::boot_fleet(
            ctx.bench,
            &profiles,
            STORM_MACS,
            ctx.opts.seed,
            BOOT_LIMIT * 2,
        )?;
        ctx.storm = Some(b);
    }
    Ok(ctx.storm.as_deref().unwrap_or_default())
}

/// The PXE ROM stage succeeded: the NBP was loaded (even if iPXE then loops).
fn rom_booted(b: &Boot) -> bool {
    match &b.end {
        BootEnd::Loaded { .. } => true,
        BootEnd::ChainloadLoop(_) => b.first_nbp.is_some() && b.profile != "ipxe",
        _ => false,
    }
}

fn describe_end(b: &Boot) -> String {
    match &b.end {
        BootEnd::Loaded {
            server,
            file,
            bytes,
        } => format!("loaded {file} ({bytes} bytes) from {server}"),
        BootEnd::Failed(why) => why.clone(),
        BootEnd::ChainloadLoop(why) => format!("chainload loop: {why}"),
        BootEnd::Unfinished => "still booting when the time limit passed".into(),
    }
}

pub(super) fn evaluate(ctx: &mut Ctx<'_, '_>, check: &Check) -> Result<Verdict, LinkError> {
    let id = check.id;
    if id == "timing.tftp-first-reply" {
        return Ok(tftp_latency(ctx));
    }
    if let Some(v) = not_in_mode(ctx, BOOTS) {
        return Ok(v);
    }
    if ctx.server.is_none() {
        // Minutes of DISCOVERs into silence would prove nothing more.
        return Ok(skip("no server answered the first DISCOVER"));
    }
    Ok(match id {
        "boot.storm.all-boot" | "boot.storm.unique-addresses" => {
            if ctx.opts.clients == 0 {
                return Ok(skip("--clients 0"));
            }
            let n = ctx.opts.clients;
            let s = storm(ctx)?.to_vec();
            if id == "boot.storm.all-boot" {
                let failed: Vec<&Boot> = s.iter().filter(|b| !rom_booted(b)).collect();
                let loops = s
                    .iter()
                    .filter(|b| matches!(b.end, BootEnd::ChainloadLoop(_)))
                    .count();
                if failed.is_empty() && loops > 0 {
                    pass(format!(
                        "{n} of {n} clients loaded their NBP; {loops} then looped as iPXE (see bootfile.ipxe-no-chainload-loop)"
                    ))
                } else if failed.is_empty() {
                    pass(format!("{n} of {n} clients booted"))
                } else {
                    let mut why: BTreeMap<String, usize> = BTreeMap::new();
                    for b in &failed {
                        *why.entry(describe_end(b)).or_default() += 1;
                    }
                    let summary: Vec<String> = why
                        .iter()
                        .take(3)
                        .map(|(w, k)| format!("{k} × {w}"))
                        .collect();
                    let first = failed[0].mac;
                    fail(
                        format!(
                            "{} of {n} clients did not boot: {} (evidence: the last frames of {first})",
                            failed.len(),
                            summary.join("; ")
                        ),
                        ctx.bench.frames_of(first, 6),
                    )
                }
            } else if ctx.mode == Mode::Proxy {
                skip("the addresses come from the other DHCP server")
            } else {
                let mut seen: BTreeMap<std::net::Ipv4Addr, pxelab_reference::Mac> = BTreeMap::new();
                let mut dup = None;
                for b in &s {
                    if let Some(ip) = b.ip
                        && let Some(other) = seen.insert(ip, b.mac)
                    {
                        dup = Some((ip, other, b.mac));
                    }
                }
                match dup {
                    None => pass(format!("{} distinct addresses", seen.len())),
                    Some((ip, a, b)) => {
                        fail(format!("{ip} leased to both {a} and {b}"), Vec::new())
                    }
                }
            }
        }
        "timing.offer-latency" => latency_verdict(offer_latencies(ctx), "offers"),
        _ => {
            let profile = check.profile;
            let all = boots(ctx)?.to_vec();
            let Some(b) = all.iter().find(|b| b.profile == profile) else {
                return Ok(skip(format!("profile {profile} not run")));
            };
            match (&b.end, &b.first_nbp) {
                (BootEnd::Loaded { .. }, _) => pass(describe_end(b)),
                // The ROM's part (PXE 2.1) worked; what iPXE is handed next
                // is the chainload checks' business.
                (BootEnd::ChainloadLoop(_), Some(nbp)) if profile != "ipxe" => pass(format!(
                    "the ROM loaded {nbp}; then {} (see bootfile.ipxe-no-chainload-loop)",
                    describe_end(b)
                )),
                _ => fail(
                    format!("{}: {}", b.mac, describe_end(b)),
                    ctx.bench.frames_of(b.mac, 6),
                ),
            }
        }
    })
}

fn offer_latencies(ctx: &Ctx<'_, '_>) -> Vec<Duration> {
    let mut v: Vec<Duration> = ctx
        .doras
        .values()
        .filter_map(|d| {
            d.offers
                .iter()
                .find(|r| ctx.is_from_subject(r))
                .map(|r| r.rx.at - d.sent_at)
        })
        .collect();
    for b in ctx.boots.iter().flatten().chain(ctx.storm.iter().flatten()) {
        v.extend(b.offer_latency);
    }
    v
}

fn tftp_first(ctx: &Ctx<'_, '_>) -> Vec<Duration> {
    ctx.transfers
        .values()
        .filter_map(|t| Some(t.first_answer_at? - t.sent_at?))
        .collect()
}

fn tftp_latency(ctx: &mut Ctx<'_, '_>) -> Verdict {
    latency_verdict(tftp_first(ctx), "reads")
}

/// A timing check's verdict: the p95 of `v` must be under a second, the
/// first retransmission timeout of every client profile (PXE 2.1's first
/// DISCOVER waits 4 s, a TFTP client retransmits after 1 s).
fn latency_verdict(mut v: Vec<Duration>, what: &str) -> Verdict {
    if v.is_empty() {
        return skip(format!("no {what} measured"));
    }
    let p50 = percentile(&mut v, 50).unwrap_or_default();
    let p95 = percentile(&mut v, 95).unwrap_or_default();
    let msg = format!(
        "p50 {} ms, p95 {} ms over {} {what}",
        p50.as_millis(),
        p95.as_millis(),
        v.len()
    );
    if p95 < Duration::from_secs(1) {
        pass(msg)
    } else {
        fail(msg, Vec::new())
    }
}

/// The latency figures of the run, for the report.
pub(super) fn latencies(ctx: &Ctx<'_, '_>) -> Latency {
    let mut offers = offer_latencies(ctx);
    let mut tftp = tftp_first(ctx);
    Latency {
        offer_p50_ms: percentile(&mut offers, 50).map(|d| d.as_secs_f64() * 1e3),
        offer_p95_ms: percentile(&mut offers, 95).map(|d| d.as_secs_f64() * 1e3),
        offers: offers.len(),
        tftp_p50_ms: percentile(&mut tftp, 50).map(|d| d.as_secs_f64() * 1e3),
        tftp_p95_ms: percentile(&mut tftp, 95).map(|d| d.as_secs_f64() * 1e3),
        tftp_reads: tftp.len(),
    }
}

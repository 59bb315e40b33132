//! A machine's boot history and the one loop detector every kind of loop goes
//! through.
//!
//! Each stage a machine passes through — an NBP loaded from a server, a
//! Bootworks run and how it ended, a boot of the installed OS and what AClient
//! did — is one entry, labelled in words that do not change from one turn to
//! the next (no times, no counters). A loop is the shortest block of labels
//! that repeats back to back at the end of the history, [`LOOP_REPEATS`] times,
//! since the last *progress*: the iPXE chainload loop (`undionly.kpxe from X`
//! over and over) and the MBR boot-flag loop of the seed story (Bootworks
//! fails, Windows, AClient arms the flag again) are the same finding.
//!
//! What counts as progress is the caller's to say (the world calls
//! [`BootHistory::progress`] when a job reaches a state it had not reached, a
//! failed attempt is recorded, or an image lands): a bounded retry moves its
//! job forward on every turn, a loop does not.

use pxelab_reference::Instant;

/// How many times a boot cycle may repeat before the machine is stopped and the
/// loop reported. Real machines loop until someone pulls the plug; a simulation
/// that did so would never end. Three repeats separate a loop from a retry.
pub const LOOP_REPEATS: usize = 3;

/// A loop found in a history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loop {
    /// The stages that repeat, in order.
    pub cycle: Vec<String>,
    /// Turns seen.
    pub repeats: usize,
    /// When the first turn started.
    pub first_at: Instant,
}

/// The stages a machine went through.
#[derive(Debug, Clone, Default)]
pub struct BootHistory {
    stages: Vec<(String, Instant)>,
    /// Index of the first stage after the last progress.
    window: usize,
}

impl BootHistory {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stages recorded so far.
    pub fn len(&self) -> usize {
        self.stages.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// The labels, oldest first.
    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.stages.iter().map(|(l, _)| l.as_str())
    }

    /// Something moved forward: stages before now cannot be part of a loop.
    pub fn progress(&mut self) {
        self.window = self.stages.len();
    }

    /// Records a stage and tells whether the history now ends in a loop.
    pub fn push(&mut self, label: String, at: Instant) -> Option<Loop> {
        self.stages.push((label, at));
        let window = &self.stages[self.window..];
        let (len, repeats) = repeating_tail(window)?;
        if repeats < LOOP_REPEATS {
            return None;
        }
        let start = window.len() - len * repeats;
        Some(Loop {
            cycle: window[start..start + len]
                .iter()
                .map(|(l, _)| l.clone())
                .collect(),
            repeats,
            first_at: window[start].1,
        })
    }
}

/// The shortest block that repeats back to back at the end of `seq` (compared
/// by label), with how many times it does (at least twice), or `None`.
fn repeating_tail(seq: &[(String, Instant)]) -> Option<(usize, usize)> {
    (1..=seq.len() / 2).find_map(|len| {
        let tail = &seq[seq.len() - len..];
        let repeats = seq
            .rchunks_exact(len)
            .take_while(|chunk| chunk.iter().zip(tail).all(|(a, b)| a.0 == b.0))
            .count();
        (repeats >= 2).then_some((len, repeats))
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(s: u64) -> Instant {
        Instant::ZERO + Duration::from_secs(s)
    }

    fn feed(h: &mut BootHistory, labels: &[&str]) -> Option<Loop> {
        let mut last = None;
        for (i, l) in labels.iter().enumerate() {
            last = h.push(l.to_string(), at(i as u64));
        }
        last
    }

    #[test]
    fn a_chainload_loop_is_found_after_three_turns_without_the_rom_load() {
        let mut h = BootHistory::new();
        assert_eq!(feed(&mut h, &["rom", "ipxe", "ipxe"]), None);
        let l = h.push("ipxe".into(), at(9)).unwrap();
        assert_eq!(l.cycle, ["ipxe"]);
        assert_eq!((l.repeats, l.first_at), (3, at(1)));
    }

    #[test]
    fn a_two_stage_flag_loop_is_found_with_its_stages_in_order() {
        let mut h = BootHistory::new();
        let l = feed(&mut h, &["os", "bw", "os", "bw", "os", "bw", "os"]).unwrap();
        assert_eq!(l.cycle, ["bw", "os"]);
        assert_eq!(l.repeats, 3);
    }

    #[test]
    fn progress_on_every_turn_is_a_retry_not_a_loop() {
        let mut h = BootHistory::new();
        for turn in 0..10 {
            assert_eq!(h.push("os".into(), at(2 * turn)), None);
            assert_eq!(h.push("bw".into(), at(2 * turn + 1)), None);
            h.progress();
        }
    }

    #[test]
    fn different_stages_never_loop() {
        let mut h = BootHistory::new();
        assert_eq!(feed(&mut h, &["a", "b", "c", "d", "a", "b", "c"]), None);
    }
}

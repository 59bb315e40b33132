//! A small, seeded, coverage-blind mutator for the stable smoke run
//! (`examples/smoke.rs`). libFuzzer needs nightly; CI has stable only, so CI
//! drives the same targets with this instead: every input is a stack of
//! libFuzzer-style mutations of the committed corpus. It finds less than
//! libFuzzer (no coverage feedback), but the corpus already sits deep inside
//! the parsers and machines, so a few mutations away from it is where a
//! regression shows first.
//!
//! Everything comes from one `u64` seed: the same seed and the same corpus give
//! the same inputs in the same order, whatever the machine, so a failure found
//! in CI can be replayed by running the same seed.

/// SplitMix64: a tiny deterministic generator. Statistical quality matters
/// little here; being reproducible from a printed seed matters a lot, and it
/// keeps the smoke run free of any generator crate's version-to-version drift.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator whose output is a function of `seed` only.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `0..n`; `n` must not be 0.
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "Rng::below(0)");
        // Multiply-high: unbiased enough for picking offsets and mutations.
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// A random byte.
    pub fn byte(&mut self) -> u8 {
        self.next_u64() as u8
    }

    /// True one time in `n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    /// Picks an element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Byte values at the edges of signed and unsigned ranges, where length checks
/// and conversions go wrong.
const INTERESTING_8: [u8; 6] = [0, 1, 0x7f, 0x80, 0xfe, 0xff];

/// Decimal numbers for text inputs (TOML configs, TFTP options): zero, signs,
/// and the edges of the integer types and of the protocols' own ranges (block
/// size 8..=65464, window size 65535, 16-bit block numbers).
const INTERESTING_NUMBERS: [&str; 18] = [
    "0",
    "1",
    "-1",
    "7",
    "8",
    "255",
    "256",
    "511",
    "512",
    "65464",
    "65465",
    "65535",
    "65536",
    "4294967295",
    "4294967296",
    "9223372036854775808",
    "18446744073709551616",
    "1e999",
];

/// The ways an input is changed; one input gets a stack of a few of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mutation {
    FlipBit,
    InterestingByte,
    RandomByte,
    /// Treats 1, 2 or 4 bytes as a length or count and moves it to an edge.
    LengthField,
    InsertBytes,
    DeleteRange,
    DuplicateRange,
    Truncate,
    /// The head of this input, the tail of another corpus entry.
    Splice,
    /// A piece of another corpus entry inserted (whole records, options).
    InsertPart,
    /// An ASCII number replaced by an edge value (text formats).
    ReplaceNumber,
}

const MUTATIONS: [Mutation; 11] = [
    Mutation::FlipBit,
    Mutation::InterestingByte,
    Mutation::RandomByte,
    Mutation::LengthField,
    Mutation::InsertBytes,
    Mutation::DeleteRange,
    Mutation::DuplicateRange,
    Mutation::Truncate,
    Mutation::Splice,
    Mutation::InsertPart,
    Mutation::ReplaceNumber,
];

/// Produces inputs from a corpus, deterministically from its seed.
#[derive(Debug, Clone)]
pub struct Mutator {
    rng: Rng,
    max_len: usize,
}

impl Mutator {
    /// `max_len` caps every input, as libFuzzer's `-max_len` does.
    pub fn new(seed: u64, max_len: usize) -> Mutator {
        Mutator {
            rng: Rng::new(seed),
            max_len,
        }
    }

    /// Writes the next input into `out`: a corpus entry with 1, 2, 4 or 8
    /// stacked mutations, or now and then plain random bytes. An empty corpus
    /// starts from the empty input.
    pub fn next_input(&mut self, corpus: &[Vec<u8>], out: &mut Vec<u8>) {
        out.clear();
        if corpus.is_empty() || self.rng.one_in(64) {
            let n = self.rng.below(256);
            out.extend((0..n).map(|_| self.rng.byte()));
            if corpus.is_empty() {
                return;
            }
        } else {
            let base = self.rng.below(corpus.len());
            out.extend_from_slice(&corpus[base]);
        }
        let depth = 1 << self.rng.below(4);
        for _ in 0..depth {
            let m = *self.rng.pick(&MUTATIONS);
            self.apply(m, corpus, out);
            out.truncate(self.max_len);
        }
    }

    fn apply(&mut self, m: Mutation, corpus: &[Vec<u8>], data: &mut Vec<u8>) {
        let rng = &mut self.rng;
        let len = data.len();
        match m {
            Mutation::FlipBit if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            Mutation::InterestingByte if len > 0 => {
                let i = rng.below(len);
                data[i] = *rng.pick(&INTERESTING_8);
            }
            Mutation::RandomByte if len > 0 => {
                let i = rng.below(len);
                data[i] = rng.byte();
            }
            Mutation::LengthField if len > 0 => length_field(rng, data),
            Mutation::DeleteRange if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                data.drain(i..i + n);
            }
            Mutation::DuplicateRange if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                let piece = data[i..i + n].to_vec();
                let at = rng.below(len + 1);
                data.splice(at..at, piece);
            }
            Mutation::Truncate if len > 0 => data.truncate(rng.below(len)),
            Mutation::ReplaceNumber => replace_number(rng, data),
            Mutation::Splice if !corpus.is_empty() => {
                let other = rng.pick(corpus);
                let head = rng.below(len + 1);
                let tail = rng.below(other.len() + 1);
                data.truncate(head);
                data.extend_from_slice(&other[tail..]);
            }
            Mutation::InsertPart if !corpus.is_empty() => {
                let other = rng.pick(corpus);
                if other.is_empty() {
                    return;
                }
                let from = rng.below(other.len());
                let n = 1 + rng.below((other.len() - from).min(512));
                let at = rng.below(len + 1);
                data.splice(at..at, other[from..from + n].iter().copied());
            }
            // Also what the others fall back to on an empty input.
            _ => {
                let at = rng.below(len + 1);
                let n = 1 + rng.below(16);
                let bytes: Vec<u8> = if rng.one_in(2) {
                    vec![rng.byte(); n]
                } else {
                    (0..n).map(|_| rng.byte()).collect()
                };
                data.splice(at..at, bytes);
            }
        }
    }
}

/// Reads 1, 2 or 4 bytes at a random offset as an integer (big-endian mostly,
/// as on the wire) and sets it to a nearby or edge value, or to the number of
/// bytes that follow it: what a length prefix would say.
fn length_field(rng: &mut Rng, data: &mut [u8]) {
    let widths: &[usize] = match data.len() {
        1 => &[1],
        2 | 3 => &[1, 2, 2],
        _ => &[1, 2, 2, 4],
    };
    let width = *rng.pick(widths);
    let at = rng.below(data.len() - width + 1);
    let field = &mut data[at..at + width];
    let big_endian = !rng.one_in(4);
    let mut raw = [0u8; 8];
    if big_endian {
        raw[8 - width..].copy_from_slice(field);
    } else {
        raw[..width].copy_from_slice(field);
        raw.reverse();
    }
    let value = u64::from_be_bytes(raw);
    let max = u64::MAX >> (64 - 8 * width);
    let delta = 1 + rng.below(4) as u64;
    let rest = (data.len() - at - width) as u64;
    let new = match rng.below(8) {
        0 => value.wrapping_add(delta),
        1 => value.wrapping_sub(delta),
        2 => 0,
        3 => max,
        4 => max >> 1,
        5 => (max >> 1) + 1,
        6 => rest,
        _ => rest.wrapping_add(delta),
    } & max;
    let bytes = new.to_be_bytes();
    let field = &mut data[at..at + width];
    field.copy_from_slice(&bytes[8 - width..]);
    if !big_endian {
        field.reverse();
    }
}

/// Replaces a run of ASCII digits (or, with none, inserts at a random place)
/// with an edge number.
fn replace_number(rng: &mut Rng, data: &mut Vec<u8>) {
    let number = rng.pick(&INTERESTING_NUMBERS).as_bytes();
    let starts: Vec<usize> = (0..data.len())
        .filter(|&i| data[i].is_ascii_digit() && (i == 0 || !data[i - 1].is_ascii_digit()))
        .collect();
    let (from, to) = if starts.is_empty() {
        let at = rng.below(data.len() + 1);
        (at, at)
    } else {
        let from = *rng.pick(&starts);
        let to = (from..data.len())
            .find(|&i| !data[i].is_ascii_digit())
            .unwrap_or(data.len());
        (from, to)
    };
    data.splice(from..to, number.iter().copied());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus() -> Vec<Vec<u8>> {
        vec![
            Vec::new(),
            vec![0x42],
            b"\x00\x01f\x00octet\x00blksize\x001428\x00".to_vec(),
            (0..=255).collect(),
        ]
    }

    fn run(seed: u64, n: usize) -> Vec<Vec<u8>> {
        let corpus = corpus();
        let mut m = Mutator::new(seed, 300);
        let mut out = Vec::new();
        (0..n)
            .map(|_| {
                m.next_input(&corpus, &mut out);
                out.clone()
            })
            .collect()
    }

    #[test]
    fn same_seed_same_inputs_other_seed_other_inputs() {
        assert_eq!(run(7, 500), run(7, 500));
        assert_ne!(run(7, 500), run(8, 500));
    }

    #[test]
    fn inputs_respect_max_len_and_mostly_differ_from_the_corpus() {
        let corpus = corpus();
        let inputs = run(1, 20_000);
        assert!(inputs.iter().all(|i| i.len() <= 300));
        let new = inputs.iter().filter(|i| !corpus.contains(i)).count();
        // Some stacks land back on a corpus entry (the empty and 1-byte ones).
        assert!(new > 18_000, "only {new} of 20000 inputs are new");
    }

    #[test]
    fn every_mutation_works_on_empty_and_tiny_inputs() {
        let mut m = Mutator::new(3, 64);
        for start in [&[][..], &[0u8][..], &[1, 2][..], &[1, 2, 3][..]] {
            for mutation in MUTATIONS {
                for corpus in [Vec::new(), corpus()] {
                    for _ in 0..200 {
                        let mut data = start.to_vec();
                        m.apply(mutation, &corpus, &mut data);
                    }
                }
            }
        }
    }

    #[test]
    fn length_field_can_write_the_remaining_length() {
        let mut rng = Rng::new(5);
        let seen = (0..5000).any(|_| {
            let mut data = vec![0u8; 10];
            length_field(&mut rng, &mut data);
            // A 2-byte big-endian field at 0 saying "8 bytes follow".
            data[..2] == [0, 8] && data[2..].iter().all(|&b| b == 0)
        });
        assert!(seen);
    }

    #[test]
    fn replace_number_swaps_a_digit_run() {
        let mut rng = Rng::new(9);
        let mut data = b"blksize = 1428\n".to_vec();
        replace_number(&mut rng, &mut data);
        let text = String::from_utf8(data).expect("ascii");
        let value = text
            .strip_prefix("blksize = ")
            .and_then(|t| t.strip_suffix('\n'))
            .expect("only the number changed");
        assert!(INTERESTING_NUMBERS.contains(&value), "{text:?}");
    }
}

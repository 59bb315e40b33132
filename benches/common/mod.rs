//! What the benches share: how they tell a measuring run from the smoke run CI does.

/// True when the bench binary runs as a smoke test: `cargo test --benches` (cargo
/// does not pass `--bench`, and criterion runs each benchmark once) or
/// `cargo bench -- --test`. The benches then use small inputs so the whole set
/// stays quick on a 2-core CI box; the numbers of such a run mean nothing.
pub fn smoke() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--test") || !args.iter().any(|a| a == "--bench")
}

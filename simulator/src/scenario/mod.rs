//! Scenario files: one lab story each — segments, the servers on them, fleets of
//! PXE clients, faults, and the outcome the run must show.
//!
//! The format is TOML (see `scenarios/*.toml` and [`schema`]). Reading happens in
//! two steps so that every refusal points at the file: serde with
//! `deny_unknown_fields` catches typos and wrong types (`file.rs`), then a check
//! resolves names, addresses and kind-specific keys (`check.rs`), the
//! deployment plane's included (`[[deployment]]`, its images and jobs, the
//! managed machine keys of a fleet). Either way the
//! error reads `origin:LINE:COLUMN: field: what is wrong; what would be right`.

mod check;
mod error;
mod file;
mod types;

pub use error::ScenarioError;
pub use types::{
    BootOrder, BootworksPath, Count, DelaySpec, DeployMode, Deployment, Expect, Fault, FaultKind,
    FileSpec, FindingKind, Fleet, ForeignSpec, ImageSpec, JobKindSpec, JobSpec, LinkSpec,
    MachineSpec, NbpKind, PxeSpec, RefMode, Scenario, Segment, Server, ServerKind, ServerRole,
    Subnet, TransferSpec, UuidMode,
};

use error::Locator;

use crate::firmware::{Profile, Quirk};

fn profile_ids() -> &'static [&'static str] {
    Profile::builtin_ids()
}

fn quirk_from_id(id: &str) -> Option<Quirk> {
    Quirk::from_id(id)
}

fn quirk_ids() -> impl Iterator<Item = &'static str> + Clone {
    Quirk::all().iter().map(Quirk::id)
}

impl Scenario {
    /// Reads and checks a scenario. `origin` names the source in errors
    /// (`scenarios/lab.toml:12:5: ...`).
    pub fn from_toml(src: &str, origin: &str) -> Result<Scenario, ScenarioError> {
        let loc = Locator { src, origin };
        let raw: file::ScenarioFile = toml::from_str(src).map_err(|e| loc.toml_error(&e))?;
        check::check(raw, &loc)
    }
}

/// The JSON Schema of the scenario file, for editors (`pxelab schema`). It
/// describes the file as written: singular table names (`[[fleet]]`), the flat
/// `[[server]]` table whose `kind` decides which keys apply, and the reference
/// server's `dhcp`/`boot` tables exactly as in `pxelab serve --config`. The
/// cross-references and ranges the schema cannot express are checked by
/// [`Scenario::from_toml`].
pub fn schema() -> serde_json::Value {
    let schema = schemars::schema_for!(file::ScenarioFile);
    let mut v = serde_json::to_value(schema).unwrap_or(serde_json::Value::Null);
    without_null(&mut v);
    v
}

/// TOML has no null: an optional key is simply absent. schemars describes an
/// `Option<T>` as "T or null" (JSON's view); this makes it plain "T" so an
/// editor never proposes `null`.
fn without_null(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            if map.get("default") == Some(&Value::Null) {
                map.remove("default");
            }
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.remove(0);
                    map.insert("type".into(), only);
                }
            }
            if let Some(Value::Array(alts)) = map.get_mut("anyOf") {
                alts.retain(|a| a.get("type") != Some(&Value::String("null".into())));
                if alts.len() == 1
                    && let Some(Value::Object(only)) = alts.pop()
                {
                    map.remove("anyOf");
                    for (k, x) in only {
                        map.entry(k).or_insert(x);
                    }
                }
            }
            map.values_mut().for_each(without_null);
        }
        Value::Array(items) => items.iter_mut().for_each(without_null),
        _ => {}
    }
}

/// A scenario shipped inside the binary, so `pxelab run NAME` works from any
/// directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bundled {
    /// The scenario's name (its file name without `.toml`).
    pub name: &'static str,
    /// Its `summary` line, read from the source at compile time.
    pub summary: &'static str,
    /// The TOML text.
    pub source: &'static str,
}

impl Bundled {
    /// Parses the bundled source (`origin` is `scenarios/NAME.toml`).
    pub fn scenario(&self) -> Result<Scenario, ScenarioError> {
        Scenario::from_toml(self.source, &format!("scenarios/{}.toml", self.name))
    }
}

/// The first bundled scenario is the default of `pxelab run`.
macro_rules! bundle {
    ($($name:literal),* $(,)?) => {
        &[$({
            const SOURCE: &str = include_str!(concat!("../../../scenarios/", $name, ".toml"));
            Bundled { name: $name, summary: summary_line(SOURCE), source: SOURCE }
        }),*]
    };
}

static BUNDLED: &[Bundled] = bundle![
    "lab-vs-production",
    "lab-vs-production-fixed",
    "proxydhcp-bios-uefi",
    "ipxe-chainload-loop",
    "spanning-tree-delay",
    "boot-storm-1000",
    "groundhog-day",
    "bootworks-drive-map-denied",
    "image-deploy-unicast",
    "image-deploy-multicast",
    "duplicate-uuid",
    "initial-deployment",
];

/// The scenarios shipped in the binary, the default one (`lab-vs-production`)
/// first.
pub fn bundled() -> &'static [Bundled] {
    BUNDLED
}

/// The bundled scenario called `name`.
pub fn find_bundled(name: &str) -> Option<&'static Bundled> {
    BUNDLED.iter().find(|b| b.name == name)
}

/// The text of the `summary = "..."` line of a bundled file, found at compile
/// time so `pxelab run --list` parses nothing. The bundled files write it as a
/// plain one-line basic string at the start of a line; anything else fails the
/// build here, and a test checks the result against the parsed summary.
const fn summary_line(src: &'static str) -> &'static str {
    const KEY: &[u8] = b"summary = \"";
    let b = src.as_bytes();
    let mut i = 0;
    while i + KEY.len() <= b.len() {
        let at_line_start = i == 0 || b[i - 1] == b'\n';
        let mut k = 0;
        while k < KEY.len() && b[i + k] == KEY[k] {
            k += 1;
        }
        if at_line_start && k == KEY.len() {
            let start = i + k;
            let mut end = start;
            while end < b.len() && b[end] != b'"' {
                if b[end] == b'\\' || b[end] == b'\n' {
                    panic!("a bundled scenario's summary must be a plain one-line string");
                }
                end += 1;
            }
            let (_, rest) = b.split_at(start);
            let (text, _) = rest.split_at(end - start);
            return match std::str::from_utf8(text) {
                Ok(s) => s,
                Err(_) => panic!("summary is not UTF-8"),
            };
        }
        i += 1;
    }
    panic!("a bundled scenario has no `summary = \"...\"` line")
}

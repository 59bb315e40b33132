//! Scenario files: `Scenario::from_toml`, what `pxelab run FILE` and `pxelab
//! sweep` call first, on arbitrary text. The parse and the validation that
//! follows it (references between machines, servers and expectations, value
//! ranges) must refuse with an error, never panic, whatever the file says.
//!
//! The simulation itself is not run: a valid scenario may ask for a fleet of
//! thousands and hours of simulated time, which would make every input slow.

use pxelab_simulator::scenario::Scenario;

/// The `scenario_file` target's body, shared by the libFuzzer binary and the smoke runner.
pub fn scenario_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Scenario::from_toml(text, "fuzz.toml") {
        Ok(s) => {
            let _ = format!("{s:?}");
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

//! libFuzzer entry point; the target is `pxelab_fuzz::targets::scenario_file`
//! (fuzz/src/targets/scenario_file.rs), which the stable smoke runner drives too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pxelab_fuzz::targets::scenario_file(data));

//! libFuzzer entry point; the target is `pxelab_fuzz::targets::agent`
//! (fuzz/src/targets/agent.rs), which the stable smoke runner drives too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pxelab_fuzz::targets::agent(data));

//! libFuzzer entry point; the target is `pxelab_fuzz::targets::multicast`
//! (fuzz/src/targets/multicast.rs), which the stable smoke runner drives too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pxelab_fuzz::targets::multicast(data));

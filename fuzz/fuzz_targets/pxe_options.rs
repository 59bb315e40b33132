//! libFuzzer entry point; the target is `pxelab_fuzz::targets::pxe_options`
//! (fuzz/src/targets/pxe_options.rs), which the stable smoke runner drives too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pxelab_fuzz::targets::pxe_options(data));

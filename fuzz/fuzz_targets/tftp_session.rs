//! libFuzzer entry point; the target is `pxelab_fuzz::targets::tftp_session`
//! (fuzz/src/targets/tftp_session.rs), which the stable smoke runner drives too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pxelab_fuzz::targets::tftp_session(data));

//! libFuzzer entry point; the target is `pxelab_fuzz::targets::tftp_packet`
//! (fuzz/src/targets/tftp_packet.rs), which the stable smoke runner drives too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pxelab_fuzz::targets::tftp_packet(data));

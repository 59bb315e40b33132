//! libFuzzer entry point; the target is `pxelab_fuzz::targets::dhcp_server`
//! (fuzz/src/targets/dhcp_server.rs), which the stable smoke runner drives too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pxelab_fuzz::targets::dhcp_server(data));

//! libFuzzer entry point; the target is `pxelab_fuzz::targets::dhcp_message`
//! (fuzz/src/targets/dhcp_message.rs), which the stable smoke runner drives too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pxelab_fuzz::targets::dhcp_message(data));

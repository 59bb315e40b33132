//! The few option 43 sub-options the servers emit and read (PXE 2.1 §2.2.5, table 2-1).
//!
//! Local to the servers until the typed `wire::pxe` codecs are merged; kept minimal
//! and private for that reason.

use std::net::Ipv4Addr;

const DISCOVERY_CONTROL: u8 = 6;
const BOOT_SERVERS: u8 = 8;
const BOOT_MENU: u8 = 9;
const MENU_PROMPT: u8 = 10;
const BOOT_ITEM: u8 = 71;
const PAD: u8 = 0;
const END: u8 = 255;

/// PXE_BOOT_ITEM (43.71): the menu item type and layer a client asks a boot server for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BootItem {
    pub(crate) item_type: u16,
    pub(crate) layer: u16,
}

/// Builds an option 43 payload from sub-options, ending with END.
#[derive(Debug, Default)]
pub(crate) struct Builder {
    bytes: Vec<u8>,
}

impl Builder {
    fn push(&mut self, code: u8, data: &[u8]) {
        // Sub-option lengths are one byte; callers keep data short (menus are
        // truncated below), so anything longer is cut rather than corrupting framing.
        let len = data.len().min(255);
        self.bytes.push(code);
        self.bytes.push(len as u8);
        self.bytes.extend_from_slice(&data[..len]);
    }

    pub(crate) fn discovery_control(&mut self, bits: u8) -> &mut Self {
        self.push(DISCOVERY_CONTROL, &[bits]);
        self
    }

    /// 43.8: for each type, our single server address.
    pub(crate) fn boot_servers(&mut self, types: &[u16], server: Ipv4Addr) -> &mut Self {
        let mut data = Vec::new();
        for t in types {
            if data.len() + 7 > 255 {
                break;
            }
            data.extend_from_slice(&t.to_be_bytes());
            data.push(1);
            data.extend_from_slice(&server.octets());
        }
        self.push(BOOT_SERVERS, &data);
        self
    }

    /// 43.9: items in menu order; stops before the list would exceed one
    /// sub-option (dnsmasq likewise refuses menus over 253 bytes).
    pub(crate) fn boot_menu<'a>(
        &mut self,
        items: impl IntoIterator<Item = (u16, &'a str)>,
    ) -> &mut Self {
        let mut data = Vec::new();
        for (t, desc) in items {
            let desc = &desc.as_bytes()[..desc.len().min(255)];
            if data.len() + 3 + desc.len() > 255 {
                break;
            }
            data.extend_from_slice(&t.to_be_bytes());
            data.push(desc.len() as u8);
            data.extend_from_slice(desc);
        }
        self.push(BOOT_MENU, &data);
        self
    }

    pub(crate) fn menu_prompt(&mut self, timeout: u8, prompt: &str) -> &mut Self {
        let mut data = vec![timeout];
        data.extend_from_slice(prompt.as_bytes());
        self.push(MENU_PROMPT, &data);
        self
    }

    pub(crate) fn boot_item(&mut self, item: BootItem) -> &mut Self {
        let mut data = item.item_type.to_be_bytes().to_vec();
        data.extend_from_slice(&item.layer.to_be_bytes());
        self.push(BOOT_ITEM, &data);
        self
    }

    pub(crate) fn finish(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.bytes);
        out.push(END);
        out
    }
}

/// Finds 43.71 in an option 43 payload. Never panics; a truncated list ends the scan.
pub(crate) fn find_boot_item(opt43: &[u8]) -> Option<BootItem> {
    let mut i = 0;
    while i < opt43.len() {
        let code = opt43[i];
        if code == PAD {
            i += 1;
            continue;
        }
        if code == END {
            return None;
        }
        let len = usize::from(*opt43.get(i + 1)?);
        let data = opt43.get(i + 2..i + 2 + len)?;
        if code == BOOT_ITEM && len == 4 {
            return Some(BootItem {
                item_type: u16::from_be_bytes([data[0], data[1]]),
                layer: u16::from_be_bytes([data[2], data[3]]),
            });
        }
        i += 2 + len;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_pxe10_and_boot_item_bytes_match_captures() {
        assert_eq!(
            Builder::default().discovery_control(8).finish(),
            [6, 1, 8, 255]
        );
        let item = BootItem {
            item_type: 0x8000,
            layer: 0,
        };
        let bytes = Builder::default().boot_item(item).finish();
        assert_eq!(bytes, [71, 4, 0x80, 0, 0, 0, 255]);
        assert_eq!(find_boot_item(&bytes), Some(item));
        assert_eq!(find_boot_item(&[6, 1, 8, 71, 4, 0x80]), None);
    }
}

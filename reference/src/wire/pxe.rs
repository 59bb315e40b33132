//! Typed views of what PXE adds to DHCP: option 43 sub-options (PXE 2.1), option
//! 60 `PXEClient:Arch:xxxxx:UNDI:yyyzzz`, 93 (RFC 4578 client architectures), 94,
//! 97 (client UUID), 77 user class (iPXE sends a plain string), 175 (iPXE).

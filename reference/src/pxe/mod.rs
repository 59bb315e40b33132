//! The PXE boot server on UDP 4011, the boot menu, and the boot-file policy.

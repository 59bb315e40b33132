//! Per-computer credentials and the constant-time comparison they rely on.

use proptest::prelude::*;
use pxelab_reference::deploy::{
    ComputerId, Credential, CredentialKind, DeployConfig, DeploymentServer, constant_time_eq,
};
use pxelab_reference::{Instant, Mac};

fn cred(seed: u8) -> Credential {
    let mut b = [0u8; 32];
    for (i, x) in b.iter_mut().enumerate() {
        *x = seed.wrapping_mul(31).wrapping_add(i as u8);
    }
    Credential::from_bytes(b)
}

#[test]
fn each_computer_verifies_only_its_own_credentials() {
    let mut s = DeploymentServer::new(DeployConfig::default());
    let a = s.register(Instant::ZERO, Mac([2, 0, 0, 0, 0, 1]), None, "a");
    let b = s.register(Instant::ZERO, Mac([2, 0, 0, 0, 0, 2]), None, "b");
    s.set_credential(a, CredentialKind::Agent, cred(1))
        .expect("known");
    s.set_credential(a, CredentialKind::Share, cred(2))
        .expect("known");
    s.set_credential(b, CredentialKind::Agent, cred(3))
        .expect("known");

    assert!(s.verify_credential(a, CredentialKind::Agent, cred(1).as_bytes()));
    assert!(s.verify_credential(a, CredentialKind::Share, cred(2).as_bytes()));
    // The agent secret does not open the share, and b's secret is not a's.
    assert!(!s.verify_credential(a, CredentialKind::Share, cred(1).as_bytes()));
    assert!(!s.verify_credential(a, CredentialKind::Agent, cred(3).as_bytes()));
    // No share credential set for b: nothing verifies, not even an empty one.
    assert!(!s.verify_credential(b, CredentialKind::Share, &[]));
    assert!(
        !s.computers()
            .get(b)
            .expect("known")
            .has_credential(CredentialKind::Share)
    );
    // Truncated and unknown.
    assert!(!s.verify_credential(a, CredentialKind::Agent, &cred(1).as_bytes()[..31]));
    assert!(!s.verify_credential(ComputerId(9), CredentialKind::Agent, cred(1).as_bytes()));
    assert!(
        s.set_credential(ComputerId(9), CredentialKind::Agent, cred(1))
            .is_err()
    );

    // Replacing a credential revokes the old one.
    s.set_credential(a, CredentialKind::Agent, cred(4))
        .expect("known");
    assert!(!s.verify_credential(a, CredentialKind::Agent, cred(1).as_bytes()));
    assert!(s.verify_credential(a, CredentialKind::Agent, cred(4).as_bytes()));
}

#[test]
fn credentials_never_print_their_bytes() {
    let c = Credential::from_bytes([0xab; 32]);
    let shown = format!("{c:?}");
    assert!(!shown.to_lowercase().contains("ab"), "{shown}");
}

#[test]
fn constant_time_eq_edge_cases() {
    assert!(constant_time_eq(&[], &[]));
    assert!(!constant_time_eq(&[0], &[]));
    assert!(!constant_time_eq(&[1, 2, 3], &[1, 2, 4]));
    assert!(!constant_time_eq(&[0x80, 2, 3], &[0, 2, 3]));
}

proptest! {
    #[test]
    fn constant_time_eq_agrees_with_eq(a in proptest::collection::vec(any::<u8>(), 0..40),
                                       b in proptest::collection::vec(any::<u8>(), 0..40)) {
        prop_assert_eq!(constant_time_eq(&a, &b), a == b);
        prop_assert!(constant_time_eq(&a, &a.clone()));
    }

    #[test]
    fn one_flipped_bit_anywhere_fails(bytes in any::<[u8; 32]>(), pos in 0usize..32, bit in 0u8..8) {
        let c = Credential::from_bytes(bytes);
        let mut wrong = bytes;
        wrong[pos] ^= 1 << bit;
        prop_assert!(c.verify(&bytes));
        prop_assert!(!c.verify(&wrong));
    }
}

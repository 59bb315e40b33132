//! PXE client firmware models and the quirk catalogue (issue 4).
//!
//! [`Firmware`] is the PXE 2.1 client as a sans-IO machine; a [`Profile`]
//! (data, plus the name of an offer-selection rule) makes it a spec BIOS ROM,
//! EDK2's UEFI client, iPXE or an older ROM, each built from the facts of
//! research §2–3; [`Quirk`]s switch on sourced deviations. Failures end as the
//! [`PxeError`] the machine's screen would show.

mod catalog;
mod client;
mod error;
mod offer;
mod profile;
mod quirk;

pub use catalog::{
    Entry as CatalogEntry, Scope as QuirkScope, Status as QuirkStatus, Switch as QuirkSwitch,
    catalog, entry as catalog_entry, server_quirk_ids,
};
pub use client::{Firmware, FirmwareEvent, Identity};
pub use error::PxeError;
pub use offer::OfferKind;
pub use profile::{OfferRule, Profile};
pub use quirk::{MIN_REPLY_LATENCY, Quirk};

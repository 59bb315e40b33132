//! The image store: what Bootworks writes to disks, read-only to agents.
//!
//! Each image carries its size and SHA-256 so that Bootworks can verify what it
//! streamed to disk before it clears the boot flag (a partly written disk must not
//! boot as if imaging had worked). This store is the catalogue only: `get` never
//! touches the filesystem; the file-backed store of the real mode comes later.

use std::collections::BTreeMap;
use std::fmt;

/// One disk image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// The name jobs refer to (`deploy-image win-xp-sp2`).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the whole image, as computed by whoever added it.
    pub sha256: [u8; 32],
}

impl fmt::Display for Image {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} bytes, sha256 ", self.name, self.size)?;
        for b in &self.sha256 {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

/// An image with this name is already in the store.
///
/// Images are immutable once stored: a capture that overwrote an image while a
/// deployment streamed it would hand machines a mix of two images.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("image {0:?} is already in the store; images are never overwritten, choose another name")]
pub struct ImageExists(pub String);

/// The images the server can deploy, by name.
#[derive(Debug, Clone, Default)]
pub struct ImageStore {
    images: BTreeMap<String, Image>,
}

impl ImageStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `image` (server side only: agents read, never write).
    pub fn add(&mut self, image: Image) -> Result<(), ImageExists> {
        if self.images.contains_key(&image.name) {
            return Err(ImageExists(image.name));
        }
        self.images.insert(image.name.clone(), image);
        Ok(())
    }

    /// The image called `name`.
    pub fn get(&self, name: &str) -> Option<&Image> {
        self.images.get(name)
    }

    /// Every image, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Image> {
        self.images.values()
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// Whether the store holds no image.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }
}

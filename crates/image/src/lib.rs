//! Content-addressed OCI image store for isola.
//!
//! Images arrive by `import` (a rootfs), `load` (`docker save` or OCI
//! archives) and leave by `save`; containers get them through `resolve`,
//! which hands out one unpacked directory per layer for overlayfs. Layer
//! tarballs are untrusted input unpacked as root, so `unpack` refuses
//! anything that could write outside the layer, and every write to the
//! store is staged and committed atomically under a cross-process lock.

mod changes;
mod commit;
mod compression;
mod digest;
mod error;
mod import;
mod incoming;
mod inspect;
mod load;
mod lock;
mod pack;
mod platform;
mod reference;
mod repositories;
mod save;
mod staging;
mod store;
#[cfg(test)]
mod test_support;
mod unpack;
mod walk;

pub use commit::CommitOptions;
pub use error::{Error, Result};
pub use incoming::{IncomingImage, OutgoingImage, PreparedLayer};
pub use reference::normalize_reference;
pub use store::{Image, ImageSummary, Store};
pub use unpack::unpack_layer;

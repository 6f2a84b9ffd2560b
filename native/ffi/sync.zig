//! Exports for sync (see native/README.md).

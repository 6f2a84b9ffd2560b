//! Exports for chan (see native/README.md).

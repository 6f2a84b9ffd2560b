//! Exports for atomic (see native/README.md).

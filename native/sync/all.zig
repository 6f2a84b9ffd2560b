//! Tests of native/sync (filled by the sync files).
test {}

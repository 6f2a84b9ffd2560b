//! Tests of native/atomic.
test {}

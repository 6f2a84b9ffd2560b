//! Tests of native/chan.
test {}

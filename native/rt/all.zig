//! Every file of the runtime, for the test root.
test {}

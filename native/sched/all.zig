//! Every file of the scheduler, for the test root.
test {}

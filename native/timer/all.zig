//! Every file of the timer wheel, for the test root.
test {}

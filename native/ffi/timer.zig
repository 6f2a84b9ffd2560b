//! Exports of the timer wheel (native/timer/).

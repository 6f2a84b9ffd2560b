//! Exports of the runtime (native/rt/).

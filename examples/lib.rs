//! Runnable examples of the `ocpagg` stages used as libraries (see `summarise.rs` and
//! `custom_sink.rs` beside this file). The library itself is empty.

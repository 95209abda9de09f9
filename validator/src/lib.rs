//! Checks a daily summary against expectations computed independently from a nise-style
//! scenario (issue #5). Not implemented yet: the end-to-end tests of `ocpagg-cli` compare the
//! pipeline against hand-computed expectations and a naive oracle in the meantime.

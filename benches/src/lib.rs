//! Benchmarks of each `ocpagg` stage and of the whole pipeline (criterion), to come with
//! issue #6. Until then, `ocpagg run` prints per-stage times and rows/s at the end of a run.

//! SIGINT and SIGTERM: a run stops reading, its sink is dropped unfinished (the temporary
//! output file is removed, the database transaction rolls back), and the process exits 130 or
//! 143 with one line saying what was left untouched.
//!
//! The signal only sets a flag ([`requested`]); the reader threads look at it before each
//! file and each batch and fail the run with [`Interrupted`], so the ordinary error path does
//! the cleaning up. A second signal ends the process at once (the default action), for a run
//! stuck where it does not look at the flag.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use signal_hook::consts::{SIGINT, SIGTERM};

/// One flag per handled signal, set by its handler.
static FLAGS: OnceLock<[(i32, Arc<AtomicBool>); 2]> = OnceLock::new();

/// The run was stopped by a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("interrupted by {}", name(*.0))]
pub struct Interrupted(pub i32);

impl Interrupted {
    /// The exit code a shell expects: 128 + the signal number (130 for SIGINT, 143 for SIGTERM).
    pub fn exit_code(self) -> u8 {
        u8::try_from(128 + self.0).unwrap_or(1)
    }
}

fn name(signal: i32) -> &'static str {
    match signal {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

/// Installs the handlers (once per process; later calls do nothing).
pub fn install() -> std::io::Result<()> {
    if FLAGS.get().is_some() {
        return Ok(());
    }
    let seen = Arc::new(AtomicBool::new(false));
    let flags = [SIGINT, SIGTERM].map(|signal| (signal, Arc::new(AtomicBool::new(false))));
    for (signal, flag) in &flags {
        // Registered first, so it runs first: once `seen` is set, the next signal terminates.
        signal_hook::flag::register_conditional_default(*signal, Arc::clone(&seen))?;
        signal_hook::flag::register(*signal, Arc::clone(&seen))?;
        signal_hook::flag::register(*signal, Arc::clone(flag))?;
    }
    let _ = FLAGS.set(flags);
    Ok(())
}

/// The signal received, if any.
pub fn requested() -> Option<Interrupted> {
    FLAGS
        .get()?
        .iter()
        .find(|(_, flag)| flag.load(Ordering::Relaxed))
        .map(|(signal, _)| Interrupted(*signal))
}

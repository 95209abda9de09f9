//! SIGINT and SIGTERM: a run stops reading, its sink is dropped unfinished (the temporary
//! output file is removed, the database transaction rolls back), and the process exits 130 or
//! 143 with one line saying what was left untouched.
//!
//! The signal sets a flag ([`requested`]); the reader threads look at it before each file and
//! each batch, and the writer before it commits, and fail the run with [`Interrupted`], so the
//! ordinary error path does the cleaning up. A database statement that may wait without limit
//! (another run's lock) is cancelled at once ([`on_signal`]). A second signal ends the process
//! at once (the default action).

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use signal_hook::consts::{SIGINT, SIGTERM};

/// The signal received (0: none).
static SIGNAL: AtomicI32 = AtomicI32::new(0);

/// What to do at once when a signal arrives, beside setting the flag: cancel a database
/// statement that may be waiting for another session's lock.
type Callback = Box<dyn Fn() + Send>;
static ON_SIGNAL: Mutex<Vec<Callback>> = Mutex::new(Vec::new());

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

/// Installs the handlers (once per process; later calls do nothing): a thread that waits
/// for SIGINT and SIGTERM, records the first and runs the [`on_signal`] callbacks; a second
/// signal terminates the process (the default action).
pub fn install() -> std::io::Result<()> {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    if INSTALLED.set(()).is_err() {
        return Ok(());
    }
    let seen = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        // Registered first, so it runs first: once `seen` is set, the next signal terminates.
        signal_hook::flag::register_conditional_default(signal, Arc::clone(&seen))?;
        signal_hook::flag::register(signal, Arc::clone(&seen))?;
    }
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("ocpagg-signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                SIGNAL.store(signal, Ordering::SeqCst);
                if let Ok(callbacks) = ON_SIGNAL.lock() {
                    callbacks.iter().for_each(|f| f());
                }
            }
        })?;
    Ok(())
}

/// Runs `f` (on the signal thread) when a signal arrives, or at once if one already has.
pub fn on_signal(f: impl Fn() + Send + 'static) {
    if requested().is_some() {
        f();
        return;
    }
    if let Ok(mut callbacks) = ON_SIGNAL.lock() {
        callbacks.push(Box::new(f));
    }
}

/// The signal received, if any.
pub fn requested() -> Option<Interrupted> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(Interrupted(signal)),
    }
}

//! SIGINT and SIGTERM: a run stops reading, its sink is dropped unfinished (the temporary
//! output file is removed, the database transaction rolls back), and the process exits 130 or
//! 143 with one line saying what was left untouched.
//!
//! The signal sets a flag ([`requested`]); the reader threads look at it before each file and
//! each batch, and the writer before it commits, and fail the run with [`Interrupted`], so the
//! ordinary error path does the cleaning up. A database statement that may wait without limit
//! (another run's lock) is cancelled at once ([`on_signal`]). A second signal ends the process
//! at once (the default action).
//!
//! An embedding program (the Python package) owns its signals and installs none of these
//! handlers. It cancels one run with a [`CancelToken`] instead ([`crate::pipeline::run_with`]),
//! which the same places look at beside the process-wide flag ([`stop_requested`]).

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

/// Whether [`install`] ran: only then can a signal be recorded.
static INSTALLED: OnceLock<()> = OnceLock::new();

/// Installs the handlers (once per process; later calls do nothing): a thread that waits
/// for SIGINT and SIGTERM, records the first and runs the [`on_signal`] callbacks; a second
/// signal terminates the process (the default action).
pub fn install() -> std::io::Result<()> {
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
/// Without [`install`] no signal is ever recorded, so `f` is dropped at once (a process that
/// runs many jobs, such as a Python worker, does not collect callbacks).
pub fn on_signal(f: impl Fn() + Send + 'static) {
    if requested().is_some() {
        f();
        return;
    }
    if INSTALLED.get().is_none() {
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

/// The run was cancelled through its [`CancelToken`] (by the embedding program, for example
/// a Python exception raised in the calling thread).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cancelled by the caller")]
pub struct Cancelled;

/// Cancels one run: the readers stop at their next batch, the writer before its next batch
/// and before it commits, and a database statement waiting for a lock is cancelled at once
/// ([`CancelToken::on_cancel`]). Clones share the state; cancelling twice does nothing more.
#[derive(Clone, Default)]
pub struct CancelToken(Arc<TokenState>);

#[derive(Default)]
struct TokenState {
    cancelled: AtomicBool,
    callbacks: Mutex<Vec<Callback>>,
}

impl std::fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancelToken")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

impl CancelToken {
    /// A token not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels: sets the flag, then runs the [`on_cancel`](Self::on_cancel) callbacks (once).
    pub fn cancel(&self) {
        if self.0.cancelled.swap(true, Ordering::SeqCst) {
            return;
        }
        let callbacks =
            std::mem::take(&mut *self.0.callbacks.lock().unwrap_or_else(|p| p.into_inner()));
        callbacks.iter().for_each(|f| f());
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::SeqCst)
    }

    /// Runs `f` when the token is cancelled (on the cancelling thread), or at once if it
    /// already is. Callbacks are dropped with the token.
    pub fn on_cancel(&self, f: impl Fn() + Send + 'static) {
        let mut callbacks = self.0.callbacks.lock().unwrap_or_else(|p| p.into_inner());
        if self.is_cancelled() {
            drop(callbacks);
            f();
            return;
        }
        callbacks.push(Box::new(f));
    }
}

/// Why a run must stop now, if it must: a signal (process-wide, [`install`]) or its token.
pub fn stop_requested(token: &CancelToken) -> Option<anyhow::Error> {
    if let Some(signal) = requested() {
        return Some(signal.into());
    }
    token.is_cancelled().then(|| Cancelled.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn a_token_runs_its_callbacks_once_and_late_ones_at_once() {
        let token = CancelToken::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&calls);
        token.on_cancel(move || {
            c.fetch_add(1, Ordering::SeqCst);
        });
        assert!(stop_requested(&token).is_none());
        token.clone().cancel();
        token.cancel();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let c = Arc::clone(&calls);
        token.on_cancel(move || {
            c.fetch_add(10, Ordering::SeqCst);
        });
        assert_eq!(calls.load(Ordering::SeqCst), 11);
        let stop = stop_requested(&token).expect("cancelled");
        assert!(stop.downcast_ref::<Cancelled>().is_some());
        assert_eq!(stop.to_string(), "cancelled by the caller");
    }
}

//! Progress reporting: a bar on a terminal, periodic log lines otherwise, nothing with --quiet.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Whether a progress bar may be drawn (on a terminal); JSON logs turn it off.
static BAR_ALLOWED: AtomicBool = AtomicBool::new(true);

/// Allows or forbids the progress bar; without it, progress is logged every few seconds.
pub fn allow_bar(allowed: bool) {
    BAR_ALLOWED.store(allowed, Ordering::Relaxed);
}

/// Shared counters the stages bump once per batch or file.
#[derive(Debug, Default)]
pub struct Counters {
    /// Files to read.
    pub files_total: AtomicU64,
    /// Files read completely.
    pub files_done: AtomicU64,
    /// Line items read (all tables).
    pub rows_read: AtomicU64,
    done: AtomicBool,
}

/// A running progress display; stops when dropped.
pub struct Progress {
    counters: Arc<Counters>,
    ticker: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    /// Starts a display for `counters`: a bar if stderr is a terminal, else a log line every
    /// `interval`; `quiet` shows nothing.
    pub fn start(counters: Arc<Counters>, quiet: bool, interval: Duration) -> Self {
        if quiet {
            return Self {
                counters,
                ticker: None,
            };
        }
        let c = Arc::clone(&counters);
        let ticker = std::thread::Builder::new()
            .name("ocpagg-progress".into())
            .spawn(move || tick(&c, interval))
            .ok();
        Self { counters, ticker }
    }
}

fn tick(c: &Counters, interval: Duration) {
    let started = Instant::now();
    let bar = (BAR_ALLOWED.load(Ordering::Relaxed) && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} files  {msg}",
            )
            .expect("valid template"),
        );
        bar
    });
    let mut last_log = Instant::now();
    while !c.done.load(Ordering::Relaxed) {
        // Woken early by `Drop`, so a run's end is never delayed to the next tick.
        std::thread::park_timeout(Duration::from_millis(100));
        let rows = c.rows_read.load(Ordering::Relaxed);
        let rate = rows as f64 / started.elapsed().as_secs_f64().max(1e-9);
        let (done, total) = (
            c.files_done.load(Ordering::Relaxed),
            c.files_total.load(Ordering::Relaxed),
        );
        match &bar {
            Some(bar) => {
                bar.set_length(total);
                bar.set_position(done);
                bar.set_message(format!("{rows} rows, {rate:.0} rows/s"));
            }
            None if last_log.elapsed() >= interval => {
                last_log = Instant::now();
                tracing::info!(
                    files_done = done,
                    files_total = total,
                    rows,
                    rows_per_s = rate as u64,
                    "Reading."
                );
            }
            None => {}
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.counters.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.ticker.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

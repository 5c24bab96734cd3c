//! Progress of `plan` and `apply` over many manifests: on a terminal, a bar with counts and an
//! estimate (indicatif); otherwise plain lines on stderr (a pipe, a CI log), or log events with
//! `--log-format json` (so the stream stays JSON), at most one per tenth of the work or per 5 s.
//! stdout keeps only the plan. Log lines and messages written meanwhile go above the bar.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The bar on screen, if any: log lines and messages are written with it cleared, then it is
/// drawn again below them (they would otherwise be drawn into it).
static ACTIVE: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Writes `bytes` to stderr, clearing the bar on screen first (the log writer of `main`).
fn to_stderr(bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let bar = ACTIVE.lock().unwrap().clone();
    match bar {
        Some(bar) => bar.suspend(|| std::io::stderr().write_all(bytes)),
        None => std::io::stderr().write_all(bytes),
    }
}

/// Says one line on stderr (a rollout milestone, an error) around the bar on screen.
pub fn say(line: &str) {
    let _ = to_stderr(format!("{line}\n").as_bytes());
}

/// stderr for the log subscriber: each event is written with the bar cleared.
pub struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        to_stderr(buf).map(|()| buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Fewer manifests than this finish before progress would help: nothing is shown.
const SHOWN_FROM: usize = 10;
const LINE_EVERY: Duration = Duration::from_secs(5);

enum Shown {
    Nothing,
    Bar(ProgressBar),
    /// Lines (`json`: as log events): (done, when the last line was printed, the count it printed).
    Lines {
        verb: &'static str,
        total: usize,
        json: bool,
        started: Instant,
        state: Mutex<(usize, Instant, usize)>,
    },
}

pub struct Progress(Shown);

impl Progress {
    /// Progress over `total` functions; `plain`: lines, not a bar (no terminal); `json`: the
    /// lines as log events.
    pub fn new(verb: &'static str, total: usize, plain: bool, json: bool) -> Self {
        if total < SHOWN_FROM {
            return Progress(Shown::Nothing);
        }
        if plain || json {
            let now = Instant::now();
            return Progress(Shown::Lines { verb, total, json, started: now, state: Mutex::new((0, now, 0)) });
        }
        let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} functions, {elapsed} elapsed, about {eta} left  {wide_msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(verb);
        *ACTIVE.lock().unwrap() = Some(bar.clone());
        Progress(Shown::Bar(bar))
    }

    /// One function done.
    pub fn done(&self, function: &str) {
        match &self.0 {
            Shown::Nothing => {}
            Shown::Bar(bar) => {
                bar.set_message(function.to_string());
                bar.inc(1);
            }
            Shown::Lines { verb, total, json, started, state } => {
                let mut s = state.lock().unwrap();
                s.0 += 1;
                let (done, last, printed) = *s;
                let tenth = (*total).div_ceil(10);
                if done == *total || done >= printed + tenth || last.elapsed() >= LINE_EVERY {
                    *s = (done, Instant::now(), done);
                    if *json {
                        let elapsed_s = started.elapsed().as_secs();
                        tracing::info!(command = *verb, done, total = *total, elapsed_s, "progress");
                    } else {
                        say(&line(verb, done, *total, started.elapsed()));
                    }
                }
            }
        }
    }

    pub fn finish(&self) {
        if let Shown::Bar(bar) = &self.0 {
            *ACTIVE.lock().unwrap() = None;
            bar.finish_and_clear();
        }
    }
}

/// "apply: 120/1000 functions (12 %), 30 s elapsed, about 220 s left".
fn line(verb: &str, done: usize, total: usize, elapsed: Duration) -> String {
    let pct = done * 100 / total.max(1);
    let left = if done == 0 { 0.0 } else { elapsed.as_secs_f64() * (total - done) as f64 / done as f64 };
    format!(
        "{verb}: {done}/{total} functions ({pct} %), {:.0} s elapsed, about {left:.0} s left",
        elapsed.as_secs_f64()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_progress_line_gives_counts_percent_and_an_estimate_from_the_rate_so_far() {
        assert_eq!(
            line("apply", 250, 1000, Duration::from_secs(10)),
            "apply: 250/1000 functions (25 %), 10 s elapsed, about 30 s left"
        );
        assert_eq!(line("plan", 0, 20, Duration::ZERO), "plan: 0/20 functions (0 %), 0 s elapsed, about 0 s left");
    }
}

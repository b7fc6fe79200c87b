//! Progress on stderr: an indicatif bar with the cell in hand, done/total and
//! the time left when stderr is a terminal; one concise line per run when it
//! is not (a CI log, a file).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The sweep's progress display.
pub struct Progress {
    bar: Option<ProgressBar>,
    total: usize,
    done: usize,
    started: Instant,
}

impl Progress {
    /// A display for `total` runs: a bar on a terminal, lines elsewhere.
    pub fn new(total: usize) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{bar:30.cyan/blue} {pos}/{len} [{elapsed_precise}, ETA {eta}] {wide_msg}",
            )
            .expect("the progress template is valid")
            .progress_chars("=> ");
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        });
        Progress { bar, total, done: 0, started: Instant::now() }
    }

    /// Shows the run about to start.
    pub fn start(&self, what: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(what.to_owned());
        }
    }

    /// Counts one run done; `summary` says how it went.
    pub fn finish_run(&mut self, summary: &str, failed: bool) {
        self.done += 1;
        match &self.bar {
            Some(bar) => {
                if failed {
                    bar.println(summary);
                }
                bar.inc(1);
            }
            None => eprintln!("[{}/{} {}] {summary}", self.done, self.total, elapsed(self.started.elapsed())),
        }
    }

    /// Counts a planned run that `--precision` found unneeded: no line, but the count and the
    /// time left move on.
    pub fn skip(&mut self) {
        self.done += 1;
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    /// Removes the bar.
    pub fn close(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

/// A duration as `1h02m03s`, `2m03s` or `3s`.
fn elapsed(duration: Duration) -> String {
    let seconds = duration.as_secs();
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s:02}s"),
        _ => format!("{h}h{m:02}m{s:02}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elapsed_time_reads_as_hours_minutes_seconds() {
        assert_eq!(elapsed(Duration::from_secs(3)), "3s");
        assert_eq!(elapsed(Duration::from_secs(123)), "2m03s");
        assert_eq!(elapsed(Duration::from_secs(3723)), "1h02m03s");
    }
}

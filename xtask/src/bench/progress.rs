//! Progress on stderr: an indicatif bar with the cell in hand, done/total and
//! the time left when stderr is a terminal; one concise line per run when it
//! is not (a CI log, a file).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The sweep's progress display.
pub struct Progress {
    bar: Option<ProgressBar>,
    total: usize,
    done: usize,
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
        Progress { bar, total, done: 0 }
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
            None => eprintln!("[{}/{}] {summary}", self.done, self.total),
        }
    }

    /// Removes the bar.
    pub fn close(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

//! What a pull or push shows while it works: per-layer bars with sizes and
//! speeds on a terminal, one line per event otherwise, nothing with `-q`.

use std::io::{IsTerminal, Write};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Progress {
    /// Bars when stdout is a terminal, else lines.
    #[default]
    Auto,
    Lines,
    Quiet,
}

/// The display of one operation.
pub(crate) struct Display {
    mode: Progress,
    bars: Option<MultiProgress>,
}

/// One blob's progress.
#[derive(Clone)]
pub(crate) struct Task {
    bar: Option<ProgressBar>,
    id: String,
    mode: Progress,
}

impl Display {
    pub(crate) fn new(mode: Progress) -> Display {
        let mode = match mode {
            Progress::Auto if std::io::stdout().is_terminal() => Progress::Auto,
            Progress::Auto => Progress::Lines,
            other => other,
        };
        let bars = (mode == Progress::Auto)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stdout()));
        Display { mode, bars }
    }

    /// Prints a status line (not in quiet mode).
    pub(crate) fn line(&self, text: &str) {
        match (&self.bars, self.mode) {
            (_, Progress::Quiet) => {}
            (Some(bars), _) => {
                let _ = bars.println(text);
            }
            (None, _) => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{text}");
            }
        }
    }

    /// Starts showing a blob of `size` bytes.
    pub(crate) fn task(&self, digest: &str, size: u64, verb: &str) -> Task {
        let id = short(digest);
        let bar = self.bars.as_ref().map(|bars| {
            let bar = bars.add(ProgressBar::new(size));
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix}: {msg:12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_prefix(id.clone());
            bar.set_message(verb.to_string());
            bar
        });
        let task = Task {
            bar,
            id,
            mode: self.mode,
        };
        if task.mode == Progress::Lines {
            task.print(&format!("{verb} ({})", human(size)));
        }
        task
    }
}

impl Task {
    pub(crate) fn set_position(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(bytes);
        }
    }

    /// A notable event: resuming, retrying.
    pub(crate) fn event(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(text.to_string()),
            None => self.print(text),
        }
    }

    pub(crate) fn finish(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.finish_with_message(text.to_string()),
            None => self.print(text),
        }
    }

    fn print(&self, text: &str) {
        if self.mode == Progress::Lines {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}: {text}", self.id);
        }
    }
}

/// The 12 hex digits Docker shows for a layer.
pub(crate) fn short(digest: &str) -> String {
    let hex = digest.split_once(':').map_or(digest, |(_, h)| h);
    hex.chars().take(12).collect()
}

pub(crate) fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "kB", "MB", "GB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else {
        format!("{value:.1}{}", UNITS[unit])
    }
}

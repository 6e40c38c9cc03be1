//! A terminal progress bar for sync (hidden with --json, so scripts read clean output).

use gridpatrol_client::{Phase, SyncProgress};
use indicatif::{ProgressBar, ProgressStyle};

pub struct Bar {
    bar: ProgressBar,
}

impl Bar {
    pub fn new(hidden: bool) -> Self {
        let bar = if hidden {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(0)
        };
        Bar { bar }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl SyncProgress for Bar {
    fn phase(&self, phase: Phase, total: u64) {
        let (template, message) = match phase {
            Phase::Cases => ("{msg} [{bar:30}] {pos}/{len}", "同步案件 syncing cases"),
            Phase::Photos => (
                "{msg} [{bar:30}] {bytes}/{total_bytes}",
                "上传照片 uploading photos",
            ),
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            self.bar.set_style(style.progress_chars("=> "));
        }
        self.bar.set_message(message);
        self.bar.set_length(total);
        self.bar.set_position(0);
    }

    fn advance(&self, units: u64) {
        self.bar.inc(units);
    }
}

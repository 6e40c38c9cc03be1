//! Writes a photo-like test JPEG, so that test suites in other languages (Swift on Linux has no image
//! encoder) get a real camera-style image without a binary committed to the repository.
//!
//! Usage: make_jpeg PATH [WIDTH HEIGHT SEED]

use anyhow::{Context, Result};
use gridpatrol_tests::synthetic_jpeg;

const USAGE: &str = "usage: make_jpeg PATH [WIDTH HEIGHT SEED]";

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args.next().context(USAGE)?;
    if path == "--help" || path == "-h" {
        println!("{USAGE}");
        return Ok(());
    }
    // A path that looks like an option is a mistake, not a file to write.
    anyhow::ensure!(!path.starts_with('-'), "unknown option {path}; {USAGE}");
    let mut number = |default: u64| -> Result<u64> {
        args.next()
            .map_or(Ok(default), |a| a.parse().context("a whole number"))
    };
    let width = u16::try_from(number(480)?).context("width")?;
    let height = u16::try_from(number(360)?).context("height")?;
    let seed = number(7)?;
    std::fs::write(&path, synthetic_jpeg(width, height, seed))
        .with_context(|| format!("writing {path}"))
}

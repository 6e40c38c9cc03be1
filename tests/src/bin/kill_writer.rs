//! A worker's device under fire: records reports, edits and photo attachments as fast as it can, and
//! prints one acknowledgement line after each action returns success. The kill test SIGKILLs it at
//! random moments and checks that every acknowledged action survived.
//!
//! Usage: kill_writer STORE_DIR ROUND [hold]
//! With `hold`, it opens the store, prints "open", and waits to be killed (the lock test).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use gridpatrol_core::case::{CaseEdit, Location};
use gridpatrol_core::store::{DeviceStore, NewReport};
use gridpatrol_tests::{Ack, synthetic_jpeg};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().context("STORE_DIR")?);
    let round: u64 = args.next().context("ROUND")?.parse()?;
    let hold = args.next().as_deref() == Some("hold");
    let mut store = DeviceStore::open(&dir)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if hold {
        writeln!(out, "open")?;
        out.flush()?;
        std::thread::park();
        return Ok(());
    }
    let mut last = None;
    for i in 0u64.. {
        let ack = match (i % 4, last) {
            (2, Some(id)) => {
                let description = format!("edit r{round} i{i}");
                store.edit(
                    id,
                    CaseEdit {
                        description: Some(description.clone()),
                        ..CaseEdit::default()
                    },
                )?;
                Ack::Edited {
                    id: id.to_string(),
                    description,
                }
            }
            (3, Some(id)) => {
                let photo = synthetic_jpeg(96, 64, round * 1_000_000 + i);
                let p = store.attach(id, &photo, None)?;
                Ack::Attached {
                    id: id.to_string(),
                    sha256: p.sha256,
                }
            }
            _ => {
                let description = format!("report r{round} i{i}");
                let id = store.report(NewReport {
                    category: "06010".into(),
                    location: Location::new(39.91 + i as f64 * 1e-6, 116.36)?,
                    address: format!("round {round}"),
                    description: description.clone(),
                    photos: Vec::new(),
                })?;
                last = Some(id);
                Ack::Reported {
                    id: id.to_string(),
                    description,
                }
            }
        };
        writeln!(out, "{}", ack.to_line())?;
        out.flush()?;
    }
    Ok(())
}

//! Crash safety of the device store: a writer process is killed with SIGKILL at random moments, 200
//! times. After every kill the store must open cleanly and hold every action the writer had reported as
//! successful, intact. And two processes never share a store.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use gridpatrol_core::Error;
use gridpatrol_core::case::CaseId;
use gridpatrol_core::store::{DeviceStore, StoreError};
use gridpatrol_tests::Ack;
use rand::{Rng, SeedableRng, rngs::StdRng};
use sha2::{Digest, Sha256};

const KILLS: u64 = 200;

fn writer(dir: &Path, round: u64, hold: bool) -> (Child, mpsc::Receiver<String>) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kill_writer"));
    cmd.arg(dir).arg(round.to_string());
    if hold {
        cmd.arg("hold");
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kill_writer");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // A line the kill cut short has no newline: `lines()` still yields it, and Ack::parse or the
        // caller ignores it; only complete lines count as acknowledged.
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
            if line.ends_with('\n') {
                let _ = tx.send(line.trim_end().to_owned());
            }
            line.clear();
        }
    });
    (child, rx)
}

/// Everything acknowledged must be there: the case, each acknowledged edit in its timeline, each
/// acknowledged photo referenced and stored byte-exact.
fn verify(store: &DeviceStore, acks: &[Ack]) {
    let mut by_case: HashMap<&str, Vec<&Ack>> = HashMap::new();
    for a in acks {
        let id = match a {
            Ack::Reported { id, .. } | Ack::Edited { id, .. } | Ack::Attached { id, .. } => id,
        };
        by_case.entry(id.as_str()).or_default().push(a);
    }
    for (id, acks) in by_case {
        let case_id: CaseId = id.parse().expect("writer prints valid ids");
        let case = store
            .case(case_id)
            .unwrap_or_else(|e| panic!("acknowledged case {id} lost: {e}"));
        for a in acks {
            match a {
                Ack::Reported { description, .. } => {
                    let edited = case.timeline.entries.iter().any(|e| e.event.edit.is_some());
                    assert!(
                        edited || case.details.description == *description,
                        "report {description:?} of {id} lost"
                    );
                }
                Ack::Edited { description, .. } => assert!(
                    case.timeline.entries.iter().any(|e| e
                        .event
                        .edit
                        .as_ref()
                        .and_then(|ed| ed.description.as_deref())
                        == Some(description.as_str())),
                    "acknowledged edit {description:?} of {id} lost"
                ),
                Ack::Attached { sha256, .. } => {
                    assert!(
                        case.photos.iter().any(|p| &p.sha256 == sha256),
                        "photo {sha256} of {id} lost"
                    );
                    let bytes = store
                        .blob(sha256)
                        .unwrap()
                        .unwrap_or_else(|| panic!("blob {sha256} missing"));
                    assert_eq!(&hex::encode(Sha256::digest(&bytes)), sha256, "blob intact");
                }
            }
        }
        // The index row agrees with the document.
        let row = store
            .list(&Default::default())
            .unwrap()
            .into_iter()
            .find(|r| r.id == case_id)
            .unwrap_or_else(|| panic!("case {id} missing from the index"));
        assert_eq!(
            row.summary,
            case.details
                .description
                .chars()
                .take(80)
                .collect::<String>()
        );
        assert_eq!(row.photos as usize, case.photos.len());
    }
}

#[test]
fn acknowledged_actions_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    drop(DeviceStore::init(dir.path(), "worker-kill").unwrap());
    let mut rng = StdRng::seed_from_u64(0x6772_6964);
    let mut all = Vec::new();
    let mut killed_mid_action = 0;
    for round in 0..KILLS {
        let (mut child, rx) = writer(dir.path(), round, false);
        // From "during start-up" to "well into a burst of actions".
        std::thread::sleep(Duration::from_micros(rng.random_range(500..100_000)));
        child.kill().expect("SIGKILL the writer");
        let status = child.wait().unwrap();
        assert!(!status.success());
        let lines: Vec<String> = rx.iter().collect();
        let acks: Vec<Ack> = lines.iter().filter_map(|l| Ack::parse(l)).collect();
        assert_eq!(
            acks.len(),
            lines.len(),
            "unexpected writer output: {lines:?}"
        );
        if !acks.is_empty() {
            killed_mid_action += 1;
        }

        let store = DeviceStore::open(dir.path())
            .unwrap_or_else(|e| panic!("round {round}: store does not reopen: {e}"));
        store.check_integrity().unwrap();
        verify(&store, &acks);
        all.extend(acks);
    }
    let store = DeviceStore::open(dir.path()).unwrap();
    verify(&store, &all);
    let reported = all
        .iter()
        .filter(|a| matches!(a, Ack::Reported { .. }))
        .count();
    assert!(reported as u64 <= store.count().unwrap());
    assert!(
        killed_mid_action > KILLS / 4,
        "the kills should mostly land while the writer works ({killed_mid_action} of {KILLS})"
    );
    assert!(
        all.len() as u64 > KILLS,
        "the writer made too little progress to test anything: {}",
        all.len()
    );
    eprintln!(
        "{KILLS} kills, {} acknowledged actions, {} cases in store",
        all.len(),
        store.count().unwrap()
    );
}

#[test]
fn a_second_process_gets_store_in_use() {
    let dir = tempfile::tempdir().unwrap();
    drop(DeviceStore::init(dir.path(), "worker-lock").unwrap());
    let (mut child, rx) = writer(dir.path(), 0, true);
    assert_eq!(rx.recv_timeout(Duration::from_secs(30)).unwrap(), "open");
    match DeviceStore::open(dir.path()) {
        Err(Error::Store(StoreError::InUse(p))) => assert_eq!(p, dir.path()),
        Err(e) => panic!("expected InUse, got {e}"),
        Ok(_) => panic!("two processes opened one store"),
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // Once the holder is gone (even killed), the store opens again.
    DeviceStore::open(dir.path())
        .unwrap()
        .check_integrity()
        .unwrap();
}

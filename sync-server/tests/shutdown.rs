//! Graceful shutdown: SIGTERM during a burst of syncs from several PDAs. Every sync that got a 200 is
//! in the database after a restart, with its case in the dispatch pool.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Pda, Server, admin_ok, seed};
use gridpatrol_core::case::CaseId;

#[test]
fn sigterm_during_a_burst_loses_nothing_acknowledged() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let tokens = seed(&dir);
    let extra = admin_ok(&dir, &["device", "add", "--worker", "w-001"])["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let server = Server::start(&dir);
    let http = server.http();
    let devices = [
        (tokens.device1.clone(), "w-001", "110102001001"),
        (tokens.device2.clone(), "w-002", "110102002001"),
        (extra, "w-001", "110102001002"),
    ];
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged: Arc<Mutex<Vec<CaseId>>> = Arc::default();
    let mut threads = Vec::new();
    for (token, worker, community) in devices {
        let mut pda = Pda::enroll(&http, &token, worker);
        let (stop, acknowledged) = (stop.clone(), acknowledged.clone());
        threads.push(std::thread::spawn(move || {
            let mut n = 0u32;
            let mut refused_after_stop = 0;
            while refused_after_stop < 3 {
                for _ in 0..3 {
                    n += 1;
                    let cell = format!("{community}{:03}", n % 9 + 1);
                    pda.report("06010", &cell, &format!("burst {n}"));
                }
                match pda.sync_once() {
                    Ok((request, 200, _, _)) => acknowledged.lock().unwrap().extend(
                        request
                            .docs
                            .iter()
                            .filter(|d| !d.changes.is_empty())
                            .map(|d| CaseId(d.case)),
                    ),
                    Ok((_, status, body, _)) => {
                        assert!(
                            stop.load(Ordering::SeqCst),
                            "status {status} before shutdown: {body}"
                        );
                        refused_after_stop += 1;
                    }
                    Err(_) => {
                        // No response: the server is going or gone. Nothing counts as acknowledged.
                        assert!(
                            stop.load(Ordering::SeqCst),
                            "the server went away before SIGTERM"
                        );
                        refused_after_stop += 1;
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
            }
            n
        }));
    }
    std::thread::sleep(Duration::from_millis(1_500));
    stop.store(true, Ordering::SeqCst);
    let status = server.terminate();
    assert!(
        status.success(),
        "the server exits cleanly on SIGTERM: {status:?}"
    );
    let reported: u32 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() >= 10,
        "a real burst: {} acknowledged of {reported}",
        acknowledged.len()
    );

    let server = Server::start(&dir);
    let http = server.http();
    for id in &acknowledged {
        let (status, view) = http.case(&tokens.dispatcher, *id);
        assert_eq!(status, 200, "acknowledged case {id} lost: {view}");
        assert!(
            view["route"]["department"].is_string(),
            "case {id} not in the pool: {view}"
        );
    }
    let (_, page) = http.get("/api/v1/cases?limit=1", Some(&tokens.dispatcher));
    assert!(page["total"].as_u64().unwrap() >= acknowledged.len() as u64);
}

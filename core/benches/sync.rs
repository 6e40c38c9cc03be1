//! Sync protocol budgets (BENCHMARKS.md), measured on real device stores (SQLite) and the protocol's
//! in-memory server backend, every message through the wire encoding; the baseline is automerge's own
//! per-document sync protocol run on the same documents in the same run.
//!
//! cargo bench -p gridpatrol-core --bench sync
//!
//! Budgets: 1,000 new reports device → server in ≤ 2 round trips with wire bytes ≤ 1.2 × the automerge
//! bytes; a sync with nothing changed on a device holding 10,000 cases is 1 request of ≤ 2 KB each way.

use std::time::Instant;

use automerge::sync::{Message, State, SyncDoc};
use geo::Centroid;
use gridpatrol_core::case::Location;
use gridpatrol_core::catalog::Catalog;
use gridpatrol_core::doc::{CaseDoc, actor_for};
use gridpatrol_core::grid::{GeneratedDistrict, GridIndex};
use gridpatrol_core::store::{DeviceStore, NewReport};
use gridpatrol_core::sync::memory::MemoryBackend;
use gridpatrol_core::sync::server::{SyncBackend, decode_changes};
use gridpatrol_core::sync::wire::change_bytes;
use gridpatrol_core::sync::{DeviceScope, ServerFacts, ServerSync, SyncRequest, SyncResponse};

struct Traffic {
    round_trips: usize,
    sent: usize,
    received: usize,
    automerge_bytes: usize,
}

fn device(n: usize) -> (tempfile::TempDir, DeviceStore, DeviceScope) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = DeviceStore::init(dir.path(), "w-bench").expect("init");
    let cells = GeneratedDistrict::demo().cells();
    store
        .import_grids(&GridIndex::new(cells.clone()).expect("grid").to_geojson())
        .expect("grids");
    let centres: Vec<_> = cells.iter().filter_map(|c| c.polygon.centroid()).collect();
    for i in 0..n {
        let c = centres[i % centres.len()];
        store
            .report(NewReport {
                category: "06010".into(),
                location: Location::new(c.y(), c.x()).expect("valid"),
                address: format!("府右街 {i} 号门前"),
                description: format!("路边暴露垃圾约两袋，影响通行 #{i}"),
                photos: Vec::new(),
            })
            .expect("report");
    }
    let scope = DeviceScope::new(
        &store.identity().device_id,
        "w-bench",
        vec!["110102".into()],
    );
    (dir, store, scope)
}

/// Syncs until settled, through the wire encoding; returns what crossed the wire.
fn sync(
    store: &mut DeviceStore,
    scope: &DeviceScope,
    server: &mut (ServerSync, MemoryBackend, (Catalog, GridIndex)),
) -> Traffic {
    let mut t = Traffic {
        round_trips: 0,
        sent: 0,
        received: 0,
        automerge_bytes: 0,
    };
    loop {
        let request = store.sync_request(4 << 20).expect("request");
        t.automerge_bytes += change_bytes(request.docs.iter().map(|d| &d.changes));
        let req_bytes = request.encode();
        let decoded = SyncRequest::decode(&req_bytes).expect("decode");
        let (catalog, grids) = &server.2;
        let facts = ServerFacts {
            catalog,
            grids,
            now: chrono::Utc::now(),
        };
        let outcome = server
            .0
            .serve(&mut server.1, scope, &facts, &decoded)
            .expect("handle");
        assert!(outcome.refused.is_empty(), "{:?}", outcome.refused);
        let resp_bytes = outcome.response.encode();
        let response = SyncResponse::decode(&resp_bytes).expect("decode");
        t.automerge_bytes += change_bytes(response.docs.iter().map(|d| &d.changes));
        let applied = store.apply_sync_response(&response).expect("apply");
        t.round_trips += 1;
        t.sent += req_bytes.len();
        t.received += resp_bytes.len();
        if !applied.more && store.outbox_len().expect("outbox") == 0 {
            return t;
        }
    }
}

/// automerge's per-document sync protocol between two documents until both are quiet: (messages,
/// bytes, the longest chain of message exchanges).
fn per_doc_sync(
    a: &mut CaseDoc,
    b: &mut CaseDoc,
    sa: &mut State,
    sb: &mut State,
) -> (usize, usize, usize) {
    let (mut messages, mut bytes, mut rounds) = (0, 0, 0);
    loop {
        let mut quiet = true;
        if let Some(m) = a.automerge().sync().generate_sync_message(sa) {
            let enc = m.encode();
            (messages, bytes, quiet) = (messages + 1, bytes + enc.len(), false);
            let m = Message::decode(&enc).expect("decode");
            b.automerge()
                .sync()
                .receive_sync_message(sb, m)
                .expect("receive");
        }
        if let Some(m) = b.automerge().sync().generate_sync_message(sb) {
            let enc = m.encode();
            (messages, bytes, quiet) = (messages + 1, bytes + enc.len(), false);
            let m = Message::decode(&enc).expect("decode");
            a.automerge()
                .sync()
                .receive_sync_message(sa, m)
                .expect("receive");
        }
        if quiet {
            return (messages, bytes, rounds);
        }
        rounds += 1;
    }
}

fn server() -> (ServerSync, MemoryBackend, (Catalog, GridIndex)) {
    let actor = actor_for("server-bench");
    let grids = GridIndex::new(GeneratedDistrict::demo().cells()).expect("grid");
    (
        ServerSync::new(actor.clone()),
        MemoryBackend::new(actor),
        (Catalog::builtin(), grids),
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // 1,000 new reports, five fresh runs for the time; bytes and round trips are the same every run.
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..5 {
        let (_dir, mut store, scope) = device(1_000);
        let mut srv = server();
        let start = Instant::now();
        let t = sync(&mut store, &scope, &mut srv);
        times.push(start.elapsed().as_secs_f64() * 1e3);
        last = Some((t, srv));
    }
    let (t, mut srv) = last.expect("ran");
    println!("## 1,000 new reports device → server (batched protocol)");
    println!("round trips: {} (budget ≤ 2)", t.round_trips);
    println!(
        "wire bytes: {} sent + {} received = {}; automerge change bytes carried: {}; ratio {:.3} (budget ≤ 1.2)",
        t.sent,
        t.received,
        t.sent + t.received,
        t.automerge_bytes,
        (t.sent + t.received) as f64 / t.automerge_bytes as f64
    );
    println!("time (in-process, median of 5): {:.1} ms", median(times));

    // Baseline: automerge's per-document protocol on the same documents, into an empty server doc.
    let ids = srv.1.case_ids();
    let (mut messages, mut bytes, mut max_rounds) = (0, 0, 0);
    for id in &ids {
        let mut full = srv.1.load(*id).expect("load").expect("present");
        let changes = decode_changes(&gridpatrol_core::sync::server::encode_changes(
            full.changes_since(&[]),
        ))
        .expect("changes");
        let mut device_doc = CaseDoc::from_changes(actor_for("d"), changes).expect("doc");
        let mut empty = CaseDoc::from_changes(actor_for("s"), Vec::new()).expect("doc");
        let (m, b, r) = per_doc_sync(
            &mut device_doc,
            &mut empty,
            &mut State::new(),
            &mut State::new(),
        );
        messages += m;
        bytes += b;
        max_rounds = max_rounds.max(r);
    }
    println!(
        "baseline, automerge per-document sync: {messages} messages, {bytes} bytes, {max_rounds} exchanges per document ({} HTTP round trips if each message is a request)",
        messages
    );

    // Nothing changed, 10,000 cases.
    let (_dir, mut store, scope) = device(10_000);
    let mut srv = server();
    sync(&mut store, &scope, &mut srv);
    let t = sync(&mut store, &scope, &mut srv);
    println!("\n## nothing changed, device holding 10,000 cases");
    println!(
        "round trips: {} (budget 1); request {} B, response {} B (budget ≤ 2,048 B each way)",
        t.round_trips, t.sent, t.received
    );

    // Baseline: per-document reconnect with persisted sync states (shared heads), as automerge-repo does.
    let ids = srv.1.case_ids();
    let (mut messages, mut bytes) = (0, 0);
    for id in &ids {
        let mut a = srv.1.load(*id).expect("load").expect("present");
        let mut b = srv.1.load(*id).expect("load").expect("present");
        let (mut sa, mut sb) = (State::new(), State::new());
        per_doc_sync(&mut a, &mut b, &mut sa, &mut sb);
        // Reconnect: states survive as their encoded form.
        let mut sa = State::decode(&sa.encode()).expect("state");
        let mut sb = State::decode(&sb.encode()).expect("state");
        let (m, by, _) = per_doc_sync(&mut a, &mut b, &mut sa, &mut sb);
        messages += m;
        bytes += by;
    }
    println!("baseline, automerge per-document reconnect: {messages} messages, {bytes} bytes");
}

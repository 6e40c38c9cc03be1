//! A grid worker given other cells (调整网格) while the server runs: `admin worker set-cells`; at the next
//! sync the PDA pulls its new cells' polygons (the sync response names their version) and receives the
//! cases of its new cells that were reported long before, not only those changed since its cursor; it
//! can then report in the new cells; a report it made in the old cells before the move still goes
//! through. A sync where nothing changed stays one request.

use std::collections::BTreeSet;

use gridpatrol_client::{Remote, Silent};
use gridpatrol_core::case::{CaseEdit, CaseId, Location};
use gridpatrol_core::grid::GeneratedDistrict;
use gridpatrol_core::store::{DeviceStore, ListFilter, NewReport};
use gridpatrol_tests::procs::{Server, add_worker, admin, demo_district};

const STREET_A: &str = "110102001";
const STREET_B: &str = "110102002";

/// The middle of the `i`-th cell of a street.
fn point_in(street: &str, i: usize) -> Location {
    let cells = GeneratedDistrict::demo().cells();
    let cell = cells
        .iter()
        .filter(|c| c.code.as_str().starts_with(street))
        .nth(i)
        .expect("a cell of the street");
    let c = geo::Centroid::centroid(&cell.polygon).unwrap();
    Location::new(c.y(), c.x()).unwrap()
}

fn report(store: &mut DeviceStore, street: &str, i: usize) -> gridpatrol_core::Result<CaseId> {
    store.report(NewReport {
        category: "06010".into(),
        location: point_in(street, i),
        address: format!("{street} 第 {i} 格"),
        description: format!("暴露垃圾 #{i}"),
        photos: Vec::new(),
    })
}

fn pda(base: &str, token: &str, worker: &str) -> (DeviceStore, Remote, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = DeviceStore::init(dir.path(), worker).unwrap();
    let remote = Remote::new(base, token);
    remote.enroll_store(&mut store).unwrap();
    (store, remote, dir)
}

fn ids(store: &DeviceStore) -> BTreeSet<CaseId> {
    store
        .list(&ListFilter::default())
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect()
}

#[test]
fn a_reassigned_worker_gets_the_new_cells_and_their_earlier_cases_at_the_next_sync() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("server");
    demo_district(&data);
    let tokens: Vec<String> = [("w-a", STREET_A), ("w-b", STREET_B), ("w-c", STREET_A)]
        .into_iter()
        .map(|(worker, street)| add_worker(&data, worker, street))
        .collect();
    let server = Server::serve(&data, &["--supervise-every", "3600"]);
    let (mut a, remote_a, _a) = pda(&server.base, &tokens[0], "w-a");
    let (mut b, remote_b, _b) = pda(&server.base, &tokens[1], "w-b");
    let (mut c, remote_c, _c) = pda(&server.base, &tokens[2], "w-c");
    // A neighbour's case in street A, which w-a's PDA receives while it works there.
    let neighbours = report(&mut c, STREET_A, 1).unwrap();
    remote_c.sync(&mut c, &Silent).unwrap();

    // Street B's cases, reported and synced long before the reassignment.
    let earlier: BTreeSet<CaseId> = (0..3)
        .map(|i| report(&mut b, STREET_B, i).unwrap())
        .collect();
    remote_b.sync(&mut b, &Silent).unwrap();
    // w-a works street A and syncs past them: its cursor is now beyond B's cases.
    let own = report(&mut a, STREET_A, 0).unwrap();
    remote_a.sync(&mut a, &Silent).unwrap();
    assert_eq!(ids(&a), BTreeSet::from([own, neighbours]));
    let cells_before = a.grids().unwrap().unwrap().len();
    assert!(
        report(&mut a, STREET_B, 4).is_err(),
        "street B is outside w-a's cells"
    );

    // A report made in street A while w-a still worked there, not yet synced when the reassignment
    // comes: the server accepts it, since w-a was responsible for that cell at the time of the report
    // (the former cells are kept with the time they ended).
    let waiting = report(&mut a, STREET_A, 2).unwrap();

    let moved = admin(
        &data,
        &["worker", "set-cells", "--id", "w-a", "--cells", STREET_B],
    );
    assert_eq!(moved["cells"][0], STREET_B);

    let summary = remote_a.sync(&mut a, &Silent).unwrap();
    assert!(summary.refused.is_empty(), "{:?}", summary.refused);
    assert_eq!(a.outbox_len().unwrap(), 0);
    remote_c.sync(&mut c, &Silent).unwrap();
    assert!(
        ids(&c).contains(&waiting),
        "the waiting report reached the server and street A"
    );
    let cells = a.grids().unwrap().unwrap();
    assert_eq!(summary.grids_updated, Some(cells.len()));
    assert!(
        cells
            .cells()
            .iter()
            .all(|c| c.code.as_str().starts_with(STREET_B))
    );
    assert_eq!(
        cells.len(),
        cells_before,
        "the demo streets are the same size"
    );
    let held = ids(&a);
    assert!(
        earlier.is_subset(&held),
        "the earlier cases of the new cells arrived: {held:?}"
    );
    assert!(summary.new_cases >= earlier.len());

    // The old street's cases stay readable; the neighbour's can no longer be changed here (the server
    // would refuse that case), w-a's own report still can.
    assert_eq!(a.case(neighbours).unwrap().id, neighbours);
    let refused = a
        .edit(
            neighbours,
            CaseEdit {
                description: Some("补充".into()),
                ..CaseEdit::default()
            },
        )
        .unwrap_err();
    assert!(
        refused.to_string().contains("no longer in your cells"),
        "{refused}"
    );
    a.edit(
        own,
        CaseEdit {
            description: Some("补充说明".into()),
            ..CaseEdit::default()
        },
    )
    .unwrap();

    // Reporting in the new cells works now, and reaches w-b's PDA (same street).
    let new = report(&mut a, STREET_B, 4).unwrap();
    let again = remote_a.sync(&mut a, &Silent).unwrap();
    assert_eq!(again.grids_updated, None, "pulled once");
    remote_b.sync(&mut b, &Silent).unwrap();
    assert!(ids(&b).contains(&new));

    // Nothing changed: one request, nothing pulled.
    let quiet = remote_a.sync(&mut a, &Silent).unwrap();
    assert_eq!(
        (quiet.rounds, quiet.new_cases, quiet.grids_updated),
        (1, 0, None)
    );

    // An unknown worker or cell: refused, nothing written.
    let out = std::process::Command::new(gridpatrol_tests::procs::binary("gridpatrol-server"))
        .args([
            "admin",
            "--data",
            data.to_str().unwrap(),
            "worker",
            "set-cells",
        ])
        .args(["--id", "w-a", "--cells", "110102009"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    server.stop();
}

//! The device store on a real SQLite file: compaction, refusal of newer stores, deduplicated photos,
//! atomic refusals.

use gridpatrol_core::Error;
use gridpatrol_core::case::{CaseEdit, InputError, Location};
use gridpatrol_core::store::{DeviceStore, NewReport, StoreError};

fn report(
    store: &mut DeviceStore,
    photos: Vec<Vec<u8>>,
) -> gridpatrol_core::Result<gridpatrol_core::case::CaseId> {
    store.report(NewReport {
        category: "06010".into(),
        location: Location::new(39.91, 116.36).unwrap(),
        address: "府右街".into(),
        description: "暴露垃圾".into(),
        photos,
    })
}

fn jpeg(seed: u8) -> Vec<u8> {
    let mut pixels = Vec::new();
    for y in 0..300u16 {
        for x in 0..400u16 {
            let (x, y) = (x as u8, y as u8);
            pixels.extend_from_slice(&[x.wrapping_add(seed), y, x ^ y ^ seed]);
        }
    }
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 90)
        .encode(&pixels, 400, 300, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    out
}

#[test]
fn chunks_are_compacted_when_they_outgrow_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = DeviceStore::init(dir.path(), "w").unwrap();
    let id = report(&mut store, vec![]).unwrap();
    let mut max_chunks = 0;
    for i in 0..120 {
        store
            .edit(
                id,
                CaseEdit {
                    description: Some(format!("第 {i} 次更正")),
                    ..CaseEdit::default()
                },
            )
            .unwrap();
        let (snapshot, chunks, chunk_bytes) = store.storage_stats(id).unwrap();
        assert!(
            chunk_bytes <= snapshot,
            "chunks ({chunk_bytes} B) never outgrow the snapshot ({snapshot} B)"
        );
        max_chunks = max_chunks.max(chunks);
    }
    assert!(max_chunks > 1, "chunks are used between compactions");
    drop(store);
    let store = DeviceStore::open(dir.path()).unwrap();
    let case = store.case(id).unwrap();
    assert_eq!(case.details.description, "第 119 次更正");
    assert_eq!(case.timeline.entries.len(), 121);
}

#[test]
fn a_store_from_a_newer_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(DeviceStore::init(dir.path(), "w").unwrap());
    let conn = rusqlite::Connection::open(dir.path().join("store.sqlite3")).unwrap();
    conn.pragma_update(None, "user_version", 999).unwrap();
    drop(conn);
    match DeviceStore::open(dir.path()) {
        Err(Error::Store(StoreError::TooNew { found: 999, .. })) => {}
        Err(e) => panic!("expected TooNew, got {e}"),
        Ok(_) => panic!("a newer store was opened"),
    }
    let err = DeviceStore::open(dir.path()).err().unwrap().to_string();
    assert!(err.contains("newer GridPatrol"), "{err}");
}

#[test]
fn opening_nothing_or_initializing_twice_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        DeviceStore::open(dir.path()),
        Err(Error::Store(StoreError::NotInitialized(_)))
    ));
    drop(DeviceStore::init(dir.path(), "w").unwrap());
    assert!(matches!(
        DeviceStore::init(dir.path(), "w"),
        Err(Error::Store(StoreError::AlreadyInitialized(_)))
    ));
}

#[test]
fn the_same_photo_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = DeviceStore::init(dir.path(), "w").unwrap();
    let photo = jpeg(7);
    let a = report(&mut store, vec![photo.clone()]).unwrap();
    let b = report(&mut store, vec![photo.clone()]).unwrap();
    let again = store.attach(a, &photo, None).unwrap();
    let pa = store.case(a).unwrap().photos;
    let pb = store.case(b).unwrap().photos;
    assert_eq!(pa.len(), 1, "attaching the same photo again adds nothing");
    assert_eq!(pa[0].sha256, pb[0].sha256);
    assert_eq!(again.sha256, pa[0].sha256);
    // One full image and one thumbnail in the blob table.
    assert_eq!(store.pending_uploads().unwrap().len(), 2);
    let full = store.blob(&pa[0].sha256).unwrap().unwrap();
    assert_eq!(gridpatrol_core::photo::sha256_hex(&full), pa[0].sha256);
}

#[test]
fn a_refused_report_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = DeviceStore::init(dir.path(), "w").unwrap();
    let mut cut = jpeg(1);
    cut.truncate(cut.len() / 2);
    // A good photo and a corrupt one: neither is kept, no case is created.
    assert!(matches!(
        report(&mut store, vec![jpeg(2), cut]),
        Err(Error::Photo(_))
    ));
    let too_long = NewReport {
        category: "06010".into(),
        location: Location::new(39.9, 116.3).unwrap(),
        address: String::new(),
        description: "长".repeat(5000),
        photos: vec![],
    };
    assert!(matches!(
        store.report(too_long),
        Err(Error::Input(InputError::TooLong { .. }))
    ));
    assert_eq!(store.count().unwrap(), 0);
    assert!(store.pending_uploads().unwrap().is_empty());
}

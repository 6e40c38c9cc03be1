//! Device store budgets (BENCHMARKS.md): record a report (median <= 1 ms), open a store holding 10,000
//! cases and list them (<= 50 ms).
//!
//! cargo bench -p gridpatrol-core --bench device

use criterion::{Criterion, criterion_group, criterion_main};
use gridpatrol_core::case::Location;
use gridpatrol_core::store::{DeviceStore, ListFilter, NewReport};

fn report(i: u32) -> NewReport {
    NewReport {
        category: "06010".into(),
        location: Location::new(39.9 + f64::from(i % 1000) * 1e-5, 116.36).expect("valid"),
        address: "府右街 12 号门前".into(),
        description: format!("路边暴露垃圾约两袋 #{i}"),
        photos: Vec::new(),
    }
}

fn record_report(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = DeviceStore::init(dir.path(), "bench").expect("init");
    let mut i = 0;
    c.bench_function("device/record_report", |b| {
        b.iter(|| {
            i += 1;
            store.report(report(i)).expect("report")
        })
    });
}

fn open_and_list_10k(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let mut store = DeviceStore::init(dir.path(), "bench").expect("init");
        for i in 0..10_000 {
            store.report(report(i)).expect("report");
        }
    }
    let mut group = c.benchmark_group("device");
    group.sample_size(30);
    group.bench_function("open_and_list_10k", |b| {
        b.iter(|| {
            let store = DeviceStore::open(dir.path()).expect("open");
            let rows = store.list(&ListFilter::default()).expect("list");
            assert_eq!(rows.len(), 10_000);
            rows
        })
    });
    group.finish();
}

criterion_group!(benches, record_report, open_and_list_10k);
criterion_main!(benches);

//! Point lookup among 20,000 cells (a Shenzhen-sized city). Budget: >= 1,000,000 lookups/s.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gridpatrol_core::grid::{GeneratedDistrict, GridIndex};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// 10 streets x 20 communities x 10x10 cells of 250 m: 20,000 cells, 50 km x 25 km.
fn city() -> GeneratedDistrict {
    GeneratedDistrict {
        division: "440304".to_owned(),
        north_west: (22.75, 113.85),
        streets: 10,
        communities_per_street: 20,
        cells_per_community: (10, 10),
        cell_m: 250.0,
    }
}

/// Deterministic points over the city's outline padded by 5% on each side, so about 83% fall inside a
/// cell and the rest outside.
fn points(district: &GeneratedDistrict, n: usize) -> Vec<(f64, f64)> {
    let outline = district.bounding_rect();
    let (pad_x, pad_y) = (outline.width() * 0.05, outline.height() * 0.05);
    let mut rng = StdRng::seed_from_u64(20_000);
    (0..n)
        .map(|_| {
            let lat = rng.random_range(outline.min().y - pad_y..outline.max().y + pad_y);
            let lon = rng.random_range(outline.min().x - pad_x..outline.max().x + pad_x);
            (lat, lon)
        })
        .collect()
}

fn locate(c: &mut Criterion) {
    let district = city();
    let index = GridIndex::new(district.cells()).expect("generated city is valid");
    assert_eq!(index.len(), 20_000);
    let points = points(&district, 10_000);

    let mut group = c.benchmark_group("grid");
    group.sample_size(50);
    group.measurement_time(Duration::from_secs(6));
    group.throughput(Throughput::Elements(points.len() as u64));
    group.bench_function("locate_10k_points_in_20k_cells", |b| {
        b.iter(|| {
            points
                .iter()
                .filter(|&&(lat, lon)| index.locate(black_box(lat), black_box(lon)).is_inside())
                .count()
        })
    });
    group.finish();
}

fn build(c: &mut Criterion) {
    let cells = city().cells();
    let mut group = c.benchmark_group("grid");
    group.sample_size(10);
    group.throughput(Throughput::Elements(cells.len() as u64));
    group.bench_function("build_index_20k_cells", |b| {
        b.iter(|| GridIndex::new(black_box(cells.clone())).expect("valid"))
    });
    group.finish();
}

criterion_group!(benches, locate, build);
criterion_main!(benches);

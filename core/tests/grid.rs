//! The grid module from the outside: GeoJSON import and export, point lookup, scopes.

use std::sync::LazyLock;

use geo::{BoundingRect, Coord, Intersects, LineString, MapCoords, MultiPolygon, Polygon};
use gridpatrol_core::grid::{CellCode, GeneratedDistrict, GridCell, GridError, GridIndex, Lookup};
use proptest::prelude::*;
use serde_json::json;

const FIXTURE: &str = include_str!("fixtures/grid_small.geojson");

fn code(s: &str) -> CellCode {
    CellCode::parse(s).expect("test code is valid")
}

fn demo_index() -> GridIndex {
    GridIndex::new(GeneratedDistrict::demo().cells()).expect("demo district is valid")
}

fn located(index: &GridIndex, lat: f64, lon: f64) -> Option<&str> {
    index.locate(lat, lon).cell().map(|cell| cell.code.as_str())
}

fn square(west: f64, south: f64, east: f64, north: f64) -> LineString<f64> {
    LineString(vec![
        Coord { x: west, y: south },
        Coord { x: east, y: south },
        Coord { x: east, y: north },
        Coord { x: west, y: north },
        Coord { x: west, y: south },
    ])
}

fn cell(code_str: &str, parts: Vec<Polygon<f64>>) -> GridCell {
    GridCell {
        code: code(code_str),
        name: None,
        polygon: MultiPolygon(parts),
    }
}

/// A FeatureCollection with the given features, as text.
fn collection(features: serde_json::Value) -> String {
    json!({ "type": "FeatureCollection", "features": features }).to_string()
}

fn square_feature(code: serde_json::Value) -> serde_json::Value {
    json!({
        "type": "Feature",
        "properties": { "code": code },
        "geometry": { "type": "Polygon", "coordinates": [[
            [116.36, 39.91], [116.37, 39.91], [116.37, 39.92], [116.36, 39.92], [116.36, 39.91]
        ]]}
    })
}

/// Unwraps `InFeature` and checks the index and the code it reports.
fn feature_error(err: GridError, index: usize, code: Option<&str>) -> GridError {
    match err {
        GridError::InFeature {
            index: i,
            code: c,
            reason,
        } => {
            assert_eq!(i, index, "feature index");
            assert_eq!(c.as_deref(), code, "feature code");
            *reason
        }
        other => panic!("expected an error about feature {index}, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------------------
// GeoJSON

#[test]
fn demo_district_round_trips_through_geojson() {
    let index = demo_index();
    let text = index.to_geojson();
    assert!(
        text.contains(r#""code":"110102001001001""#),
        "codes are strings"
    );
    let back = GridIndex::from_geojson(&text).expect("own output reads back");
    assert_eq!(back.len(), 36);
    assert_eq!(back.cells(), index.cells());
}

#[test]
fn fixture_with_hole_and_multipolygon_loads_and_round_trips() {
    let index = GridIndex::from_geojson(FIXTURE).expect("fixture is valid");
    assert_eq!(index.len(), 3);
    let a = index.get(&code("110102001001001")).expect("cell 001");
    assert_eq!(a.name.as_deref(), Some("府右街社区001号网格"));
    assert_eq!(a.polygon.0[0].interiors().len(), 1, "one hole");
    let c = index.get(&code("110102001001003")).expect("cell 003");
    assert_eq!(c.name, None);
    assert_eq!(c.polygon.0.len(), 2, "two parts");

    let back = GridIndex::from_geojson(&index.to_geojson()).expect("round trip");
    assert_eq!(back.cells(), index.cells());
}

#[test]
fn not_json_is_refused() {
    let err = GridIndex::from_geojson("{\"type\": \"FeatureCollection\",").expect_err("truncated");
    assert!(matches!(err, GridError::NotJson(_)), "{err:?}");
}

#[test]
fn other_geojson_is_not_a_feature_collection() {
    let lone_feature = square_feature(json!("110102001001001")).to_string();
    for text in [
        lone_feature.as_str(),
        "[]",
        r#"{"type":"FeatureCollection"}"#,
    ] {
        let err = GridIndex::from_geojson(text).expect_err("not a collection");
        assert!(
            matches!(err, GridError::NotFeatureCollection { .. }),
            "{text}: {err:?}"
        );
    }
    let err = GridIndex::from_geojson(&lone_feature).expect_err("a Feature");
    assert!(err.to_string().contains("\"Feature\""), "{err}");
}

#[test]
fn missing_code_names_the_feature() {
    let mut no_code = square_feature(json!(null));
    no_code["properties"] = json!({ "name": "无编码" });
    let text = collection(json!([square_feature(json!("110102001001001")), no_code]));
    let err = GridIndex::from_geojson(&text).expect_err("missing code");
    assert!(err.to_string().starts_with("feature 1: "), "{err}");
    let reason = feature_error(err, 1, None);
    assert!(matches!(reason, GridError::MissingCode), "{reason:?}");
}

#[test]
fn numeric_code_is_refused_with_advice_to_quote_it() {
    let text = collection(json!([square_feature(json!(110102001001001_u64))]));
    let err = GridIndex::from_geojson(&text).expect_err("numeric code");
    let message = err.to_string();
    assert!(
        message.contains("feature 0 (code \"110102001001001\")"),
        "{message}"
    );
    assert!(message.contains("quoted string"), "{message}");
    let reason = feature_error(err, 0, Some("110102001001001"));
    assert!(
        matches!(reason, GridError::NumericCode { .. }),
        "{reason:?}"
    );
}

#[test]
fn malformed_code_string_is_refused() {
    let text = collection(json!([square_feature(json!("1101"))]));
    let err = GridIndex::from_geojson(&text).expect_err("short code");
    let reason = feature_error(err, 0, Some("1101"));
    assert!(
        matches!(reason, GridError::BadCode { ref got } if got == "1101"),
        "{reason:?}"
    );
}

#[test]
fn duplicate_code_names_both_features() {
    let text = collection(json!([
        square_feature(json!("110102001001001")),
        square_feature(json!("110102001001002")),
        square_feature(json!("110102001001001")),
    ]));
    let err = GridIndex::from_geojson(&text).expect_err("duplicate");
    assert!(err.to_string().contains("first used by feature 0"), "{err}");
    let reason = feature_error(err, 2, Some("110102001001001"));
    assert!(
        matches!(
            reason,
            GridError::DuplicateCode {
                first_feature: Some(0),
                ..
            }
        ),
        "{reason:?}"
    );
}

#[test]
fn line_string_geometry_is_refused() {
    let mut feature = square_feature(json!("110102001001001"));
    feature["geometry"] = json!({
        "type": "LineString", "coordinates": [[116.36, 39.91], [116.37, 39.92]]
    });
    let err = GridIndex::from_geojson(&collection(json!([feature]))).expect_err("line");
    let reason = feature_error(err, 0, Some("110102001001001"));
    assert!(
        matches!(
            reason,
            GridError::UnsupportedGeometry { kind: "LineString" }
        ),
        "{reason:?}"
    );
}

#[test]
fn missing_geometry_is_refused() {
    let mut feature = square_feature(json!("110102001001001"));
    feature["geometry"] = json!(null);
    let err = GridIndex::from_geojson(&collection(json!([feature]))).expect_err("no geometry");
    let reason = feature_error(err, 0, Some("110102001001001"));
    assert!(matches!(reason, GridError::MissingGeometry), "{reason:?}");
}

#[test]
fn latitude_91_is_out_of_range() {
    let mut feature = square_feature(json!("110102001001001"));
    feature["geometry"]["coordinates"][0][2] = json!([116.37, 91.0]);
    let err = GridIndex::from_geojson(&collection(json!([feature]))).expect_err("lat 91");
    let reason = feature_error(err, 0, Some("110102001001001"));
    assert!(
        matches!(reason, GridError::CoordinateOutOfRange { lat, lon } if lat == 91.0 && lon == 116.37),
        "{reason:?}"
    );
}

#[test]
fn swapped_lat_lon_is_out_of_range() {
    let mut feature = square_feature(json!("110102001001001"));
    feature["geometry"]["coordinates"] = json!([[
        [39.91, 116.36],
        [39.91, 116.37],
        [39.92, 116.37],
        [39.91, 116.36]
    ]]);
    let err = GridIndex::from_geojson(&collection(json!([feature]))).expect_err("swapped");
    assert!(err.to_string().contains("[lon, lat]"), "{err}");
}

#[test]
fn degenerate_polygon_is_refused() {
    let mut feature = square_feature(json!("110102001001001"));
    feature["geometry"]["coordinates"] = json!([[
        [116.36, 39.91],
        [116.37, 39.92],
        [116.38, 39.93],
        [116.36, 39.91]
    ]]);
    let err = GridIndex::from_geojson(&collection(json!([feature]))).expect_err("collinear");
    let reason = feature_error(err, 0, Some("110102001001001"));
    assert!(
        matches!(reason, GridError::DegenerateGeometry { .. }),
        "{reason:?}"
    );
}

// ---------------------------------------------------------------------------------------------------------
// GridIndex::new

#[test]
fn new_refuses_duplicates_degenerate_and_out_of_range_cells() {
    let ok = Polygon::new(square(116.36, 39.91, 116.37, 39.92), vec![]);
    let err = GridIndex::new(vec![
        cell("110102001001001", vec![ok.clone()]),
        cell("110102001001001", vec![ok.clone()]),
    ])
    .expect_err("duplicate");
    assert!(
        matches!(err, GridError::DuplicateCode { ref code, first_feature: None } if code.as_str() == "110102001001001"),
        "{err:?}"
    );

    let flat = Polygon::new(square(116.36, 39.91, 116.37, 39.91), vec![]);
    let far = Polygon::new(square(116.36, 89.99, 116.37, 90.01), vec![]);
    for (bad, what) in [
        (vec![], "empty"),
        (vec![flat], "flat"),
        (vec![far], "lat > 90"),
    ] {
        let err = GridIndex::new(vec![cell("110102001001002", bad)]).expect_err(what);
        match err {
            GridError::InCell { code, reason } => {
                assert_eq!(code.as_str(), "110102001001002");
                assert!(
                    matches!(
                        *reason,
                        GridError::EmptyGeometry
                            | GridError::DegenerateGeometry { .. }
                            | GridError::CoordinateOutOfRange { .. }
                    ),
                    "{what}: {reason:?}"
                );
            }
            other => panic!("{what}: expected InCell, got {other:?}"),
        }
    }
}

#[test]
fn get_len_and_cells_are_sorted_by_code() {
    let mut cells = GeneratedDistrict::demo().cells();
    cells.reverse();
    let index = GridIndex::new(cells).expect("valid");
    assert_eq!(index.len(), 36);
    assert!(!index.is_empty());
    assert!(index.cells().windows(2).all(|w| w[0].code < w[1].code));
    let found = index.get(&code("110102002001005")).expect("present");
    assert_eq!(found.code.as_str(), "110102002001005");
    assert!(index.get(&code("110102003001001")).is_none());

    let empty = GridIndex::new(vec![]).expect("empty is fine");
    assert!(empty.is_empty());
    assert_eq!(empty.locate(39.915, 116.36), Lookup::Outside);
}

#[test]
fn cells_within_a_scope() {
    let index = demo_index();
    let count = |prefix: &str| index.cells_within(prefix).count();
    assert_eq!(count("110102"), 36);
    assert_eq!(count(""), 36);
    assert_eq!(count("110102001"), 18);
    assert_eq!(count("110102002"), 18);
    assert_eq!(count("110102003"), 0);
    assert_eq!(count("110105"), 0);
    assert_eq!(count("110102001002005"), 1);
    let community: Vec<&str> = index
        .cells_within("110102001002")
        .map(|c| c.code.as_str())
        .collect();
    let expected: Vec<String> = (1..=9).map(|n| format!("110102001002{n:03}")).collect();
    assert_eq!(community, expected);
}

// ---------------------------------------------------------------------------------------------------------
// locate

#[test]
fn centre_of_each_demo_cell_is_in_that_cell() {
    let index = demo_index();
    for cell in index.cells() {
        let centre = cell.polygon.bounding_rect().expect("non-empty").center();
        assert_eq!(
            located(&index, centre.y, centre.x),
            Some(cell.code.as_str()),
            "centre of {}",
            cell.code
        );
    }
}

#[test]
fn points_outside_the_district_are_outside() {
    let index = demo_index();
    let outline = GeneratedDistrict::demo().bounding_rect();
    let (min, max) = (outline.min(), outline.max());
    let mid = outline.center();
    let just_outside = 1e-9;
    for (lat, lon) in [
        (mid.y, min.x - just_outside),
        (mid.y, max.x + just_outside),
        (max.y + just_outside, mid.x),
        (min.y - just_outside, mid.x),
        (39.90, 116.40), // Tiananmen, east of the demo
        (31.23, 121.47), // Shanghai
        (0.0, 0.0),
    ] {
        assert_eq!(index.locate(lat, lon), Lookup::Outside, "({lat}, {lon})");
    }
    // Cells are closed: the district's own edge is still inside.
    assert!(index.locate(mid.y, min.x).is_inside());
}

#[test]
fn invalid_positions_are_outside() {
    let index = demo_index();
    for (lat, lon) in [
        (f64::NAN, 116.36),
        (39.91, f64::NAN),
        (f64::INFINITY, 116.36),
        (91.0, 116.36),
        (39.91, 181.0),
        (116.36, 39.91), // swapped
    ] {
        assert_eq!(index.locate(lat, lon), Lookup::Outside, "({lat}, {lon})");
    }
}

/// The demo's lattice coordinate of a cell corner, read from the generated polygon.
fn corner(index: &GridIndex, code_str: &str, vertex: usize) -> Coord<f64> {
    index.get(&code(code_str)).expect("cell").polygon.0[0]
        .exterior()
        .0[vertex]
}

#[test]
fn shared_borders_go_to_the_smallest_code_every_time() {
    let index = demo_index();
    let mut reversed_cells = GeneratedDistrict::demo().cells();
    reversed_cells.reverse();
    let reversed = GridIndex::new(reversed_cells).expect("valid");

    // Vertices are NW, SW, SE, NE. Cases: an edge inside a community, an edge between communities, an edge
    // between streets, and a corner shared by four cells.
    let mid = |a: Coord<f64>, b: Coord<f64>| Coord {
        x: a.x,
        y: (a.y + b.y) / 2.0,
    };
    let cases = [
        (
            mid(
                corner(&index, "110102001001001", 3),
                corner(&index, "110102001001001", 2),
            ),
            "110102001001001",
            "110102001001002",
        ),
        (
            mid(
                corner(&index, "110102001001003", 3),
                corner(&index, "110102001001003", 2),
            ),
            "110102001001003",
            "110102001002001",
        ),
        (
            Coord {
                x: (corner(&index, "110102001001007", 1).x
                    + corner(&index, "110102001001007", 2).x)
                    / 2.0,
                y: corner(&index, "110102001001007", 1).y,
            },
            "110102001001007",
            "110102002001001",
        ),
        (
            corner(&index, "110102001001001", 2),
            "110102001001001",
            "110102001001005",
        ),
    ];
    for (point, expected, neighbour) in cases {
        // The point really is on both cells (a closed border), not in a gap between them.
        for c in [expected, neighbour] {
            let polygon = &index.get(&code(c)).expect("cell").polygon;
            assert!(polygon.intersects(&point), "{point:?} should touch {c}");
        }
        for _ in 0..3 {
            assert_eq!(
                located(&index, point.y, point.x),
                Some(expected),
                "{point:?}"
            );
            assert_eq!(
                located(&reversed, point.y, point.x),
                Some(expected),
                "{point:?}"
            );
        }
    }
}

#[test]
fn a_point_in_a_hole_is_not_in_the_cell() {
    let full = GridIndex::from_geojson(FIXTURE).expect("fixture");
    // Without the enclave cell, the hole belongs to nobody.
    let without_enclave: Vec<GridCell> = full
        .cells()
        .iter()
        .filter(|c| c.code.as_str() != "110102001001002")
        .cloned()
        .collect();
    let holed = GridIndex::new(without_enclave).expect("valid");
    let in_hole = (39.9135, 116.3615);
    assert_eq!(holed.locate(in_hole.0, in_hole.1), Lookup::Outside);
    assert_eq!(
        located(&holed, 39.9125, 116.3605),
        Some("110102001001001"),
        "ring around the hole"
    );

    // With the enclave, the hole is its cell; the hole's edge is shared and goes to the smaller code.
    assert_eq!(
        located(&full, in_hole.0, in_hole.1),
        Some("110102001001002")
    );
    assert_eq!(located(&full, 39.9135, 116.361), Some("110102001001001"));
}

#[test]
fn a_multipolygon_cell_covers_both_parts_and_not_the_gap() {
    let index = GridIndex::from_geojson(FIXTURE).expect("fixture");
    assert_eq!(
        located(&index, 39.9135, 116.3645),
        Some("110102001001003"),
        "main part"
    );
    assert_eq!(
        located(&index, 39.9125, 116.3675),
        Some("110102001001003"),
        "detached part"
    );
    assert_eq!(
        index.locate(39.9125, 116.3665),
        Lookup::Outside,
        "gap between parts"
    );
    assert_eq!(
        index.locate(39.9145, 116.3675),
        Lookup::Outside,
        "north of the detached part"
    );
    // The border between cells 001 and 003.
    assert_eq!(located(&index, 39.9135, 116.363), Some("110102001001001"));
}

// ---------------------------------------------------------------------------------------------------------
// Property: locate agrees with a brute-force scan.

/// Every cell covering the point, by exact test, smallest code first: the rule `locate` must follow.
fn brute_force(index: &GridIndex, lat: f64, lon: f64) -> Option<&str> {
    if !((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)) {
        return None;
    }
    let point = Coord { x: lon, y: lat };
    index
        .cells()
        .iter()
        .filter(|cell| cell.polygon.0.iter().any(|part| part.intersects(&point)))
        .map(|cell| cell.code.as_str())
        .min()
}

/// A regular district, bigger than the demo so the R-tree has several levels: 144 cells.
static REGULAR: LazyLock<GridIndex> = LazyLock::new(|| {
    let district = GeneratedDistrict {
        division: "440304".to_owned(),
        north_west: (22.56, 114.02),
        streets: 3,
        communities_per_street: 4,
        cells_per_community: (4, 3),
        cell_m: 200.0,
    };
    GridIndex::new(district.cells()).expect("valid")
});

/// The demo district with every vertex moved by the same smooth warp, so borders are slanted and cells
/// irregular but still tile exactly (shared vertices move together).
static WARPED: LazyLock<GridIndex> = LazyLock::new(|| {
    let warp = |c: Coord<f64>| Coord {
        x: c.x + 0.0006 * (c.y * 900.0).sin(),
        y: c.y + 0.0005 * (c.x * 700.0).sin(),
    };
    let cells = GeneratedDistrict::demo()
        .cells()
        .into_iter()
        .map(|cell| GridCell {
            polygon: cell.polygon.map_coords(warp),
            ..cell
        })
        .collect();
    GridIndex::new(cells).expect("warped cells are valid")
});

/// Points in and around the index's cells: anywhere in the padded outline, on a cell vertex, or on a
/// cell edge (where the border rule matters).
fn point_near(index: &'static GridIndex) -> impl Strategy<Value = (f64, f64)> {
    let outline = index
        .cells()
        .iter()
        .filter_map(|c| c.polygon.bounding_rect())
        .reduce(|a, b| {
            geo::Rect::new(
                Coord {
                    x: a.min().x.min(b.min().x),
                    y: a.min().y.min(b.min().y),
                },
                Coord {
                    x: a.max().x.max(b.max().x),
                    y: a.max().y.max(b.max().y),
                },
            )
        })
        .expect("cells");
    let pad_x = outline.width() * 0.2;
    let pad_y = outline.height() * 0.2;
    let anywhere = (
        (outline.min().y - pad_y)..(outline.max().y + pad_y),
        (outline.min().x - pad_x)..(outline.max().x + pad_x),
    );
    let on_edge = (
        0..index.len(),
        0usize..4,
        prop_oneof![Just(0.0), Just(0.5), 0.0..1.0f64],
    )
        .prop_map(move |(i, v, t)| {
            let ring = &index.cells()[i].polygon.0[0].exterior().0;
            let (a, b) = (ring[v], ring[v + 1]);
            (a.y + t * (b.y - a.y), a.x + t * (b.x - a.x))
        });
    prop_oneof![2 => anywhere, 1 => on_edge]
}

proptest! {
    #[test]
    fn locate_agrees_with_brute_force_on_a_regular_grid((lat, lon) in point_near(&REGULAR)) {
        let index = &*REGULAR;
        prop_assert_eq!(located(index, lat, lon), brute_force(index, lat, lon));
    }

    #[test]
    fn locate_agrees_with_brute_force_on_an_irregular_grid((lat, lon) in point_near(&WARPED)) {
        let index = &*WARPED;
        prop_assert_eq!(located(index, lat, lon), brute_force(index, lat, lon));
    }
}

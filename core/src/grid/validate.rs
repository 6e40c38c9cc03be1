//! Checks on a cell's geometry, shared by [`GridIndex::new`](super::GridIndex::new) and the GeoJSON import.
//!
//! These catch what breaks a lookup or betrays a data error (no polygon, a ring that encloses nothing,
//! coordinates that are not WGS-84 degrees). Full OGC validity (self-intersection, holes outside the shell,
//! overlapping parts) is not checked: geo's validator is quadratic in the vertex count, too slow for a
//! city's worth of surveyed polygons on a phone, and `locate` stays deterministic on such input anyway.

use geo::{Coord, LineString, MultiPolygon, Polygon};

use super::GridError;

/// Below this absolute ring area (degrees², about 0.01 m² at Beijing's latitude) a ring is taken as
/// degenerate: a ring of collinear points does not give exactly zero in floating point.
const MIN_RING_AREA: f64 = 1e-12;

/// Whether (lat, lon) are finite WGS-84 degrees. NaN fails every comparison, so it is out of range.
pub(super) fn in_range(lat: f64, lon: f64) -> bool {
    (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)
}

/// Checks one position (x = lon, y = lat).
pub(super) fn check_coord(coord: Coord<f64>) -> Result<(), GridError> {
    if in_range(coord.y, coord.x) {
        Ok(())
    } else {
        Err(GridError::CoordinateOutOfRange {
            lat: coord.y,
            lon: coord.x,
        })
    }
}

/// Checks a cell's whole geometry: at least one polygon, and every ring sound.
pub(super) fn check_geometry(geometry: &MultiPolygon<f64>) -> Result<(), GridError> {
    if geometry.0.is_empty() {
        return Err(GridError::EmptyGeometry);
    }
    geometry
        .0
        .iter()
        .enumerate()
        .try_for_each(|(part, polygon)| check_polygon(part, polygon))
}

fn check_polygon(part: usize, polygon: &Polygon<f64>) -> Result<(), GridError> {
    check_ring(polygon.exterior(), || {
        format!("polygon {part} exterior ring")
    })?;
    polygon
        .interiors()
        .iter()
        .enumerate()
        .try_for_each(|(hole, ring)| check_ring(ring, || format!("polygon {part} hole {hole}")))
}

/// A ring needs coordinates in range, at least 3 distinct vertices and a non-zero area.
fn check_ring(ring: &LineString<f64>, what: impl Fn() -> String) -> Result<(), GridError> {
    ring.0.iter().try_for_each(|&c| check_coord(c))?;
    // geo closes rings, so counting edges of non-zero length counts distinct consecutive vertices.
    let edges = ring.0.windows(2).filter(|w| w[0] != w[1]).count();
    if edges < 3 {
        return Err(GridError::DegenerateGeometry {
            reason: format!(
                "{} has {edges} distinct vertices, at least 3 are needed",
                what()
            ),
        });
    }
    if ring_area(ring).abs() < MIN_RING_AREA {
        return Err(GridError::DegenerateGeometry {
            reason: format!("{} encloses no area", what()),
        });
    }
    Ok(())
}

/// Signed shoelace area of a closed ring, in degrees².
fn ring_area(ring: &LineString<f64>) -> f64 {
    ring.0
        .windows(2)
        .map(|w| w[0].x * w[1].y - w[1].x * w[0].y)
        .sum::<f64>()
        / 2.0
}

#[cfg(test)]
mod tests {
    use geo::{MultiPolygon, polygon};

    use super::*;

    #[test]
    fn accepts_a_small_square() {
        let square = polygon![(x: 116.36, y: 39.91), (x: 116.363, y: 39.91), (x: 116.363, y: 39.913), (x: 116.36, y: 39.913)];
        assert!(check_geometry(&MultiPolygon(vec![square])).is_ok());
    }

    #[test]
    fn refuses_empty_collinear_and_two_point_rings() {
        assert!(matches!(
            check_geometry(&MultiPolygon(vec![])),
            Err(GridError::EmptyGeometry)
        ));
        let line =
            polygon![(x: 116.36, y: 39.91), (x: 116.361, y: 39.911), (x: 116.362, y: 39.912)];
        assert!(matches!(
            check_geometry(&MultiPolygon(vec![line])),
            Err(GridError::DegenerateGeometry { .. })
        ));
        let two = polygon![(x: 116.36, y: 39.91), (x: 116.361, y: 39.911), (x: 116.36, y: 39.91)];
        assert!(matches!(
            check_geometry(&MultiPolygon(vec![two])),
            Err(GridError::DegenerateGeometry { .. })
        ));
    }

    #[test]
    fn refuses_out_of_range_and_nan() {
        let swapped = polygon![(x: 39.91, y: 116.36), (x: 39.92, y: 116.36), (x: 39.92, y: 116.37)];
        assert!(matches!(
            check_geometry(&MultiPolygon(vec![swapped])),
            Err(GridError::CoordinateOutOfRange { .. })
        ));
        let nan = polygon![(x: f64::NAN, y: 39.91), (x: 116.37, y: 39.91), (x: 116.37, y: 39.92)];
        assert!(matches!(
            check_geometry(&MultiPolygon(vec![nan])),
            Err(GridError::CoordinateOutOfRange { .. })
        ));
    }
}

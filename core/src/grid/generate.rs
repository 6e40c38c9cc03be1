//! A generated rectangular district, for demos, tests and benchmarks when no real grid file is at hand.

use geo::{Coord, LineString, MultiPolygon, Polygon, Rect};

use super::{CellCode, GridCell, GridError};

/// A rectangular district of square cells.
///
/// Layout: streets are horizontal bands from north to south; within a street, communities sit side by side
/// from west to east; within a community, `cols` x `rows` cells are numbered west→east, then north→south,
/// from 001, as the coding standard says. The district is therefore `communities_per_street * cols` cells
/// wide and `streets * rows` cells tall, with its north-west corner at `north_west`.
///
/// All vertices come from one lattice, so neighbouring cells share their border coordinates exactly.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedDistrict {
    /// Administrative division code, 6 digits.
    pub division: String,
    /// (lat, lon) of the north-west corner, WGS-84 degrees.
    pub north_west: (f64, f64),
    pub streets: u32,
    pub communities_per_street: u32,
    /// (cols, rows) of cells in each community.
    pub cells_per_community: (u32, u32),
    /// Side of a cell, metres.
    pub cell_m: f64,
}

/// Each code segment is 3 digits, numbered from 001.
const MAX_SEGMENT: u64 = 999;

impl GeneratedDistrict {
    /// A Xicheng-like demo district: division 110102, 2 streets x 2 communities x 3x3 cells of 250 m,
    /// 36 cells over 1.5 km x 1.5 km, north-west corner at (39.915, 116.36).
    pub fn demo() -> Self {
        Self {
            division: "110102".to_owned(),
            north_west: (39.915, 116.36),
            streets: 2,
            communities_per_street: 2,
            cells_per_community: (3, 3),
            cell_m: 250.0,
        }
    }

    /// The cells, in code order.
    ///
    /// # Panics
    /// If the parameters are invalid (see [`GeneratedDistrict::try_cells`]); they are set by the
    /// programmer, not read from data.
    pub fn cells(&self) -> Vec<GridCell> {
        match self.try_cells() {
            Ok(cells) => cells,
            Err(err) => panic!("{err}"),
        }
    }

    /// The cells, in code order, or why the parameters cannot make a district: the division must be 6
    /// digits, every count at least 1, streets, communities and cells per community at most 999 (3-digit
    /// code segments), the cell size positive and the whole district within WGS-84 ranges.
    pub fn try_cells(&self) -> Result<Vec<GridCell>, GridError> {
        self.check()?;
        let lattice = self.lattice();
        let (cols, rows) = self.cells_per_community;
        let mut cells = Vec::with_capacity(self.cell_count());
        for street in 0..self.streets {
            for community in 0..self.communities_per_street {
                for row in 0..rows {
                    for col in 0..cols {
                        let number = row * cols + col + 1;
                        let gx = community * cols + col;
                        let gy = street * rows + row;
                        cells.push(GridCell {
                            code: self.code(street + 1, community + 1, number)?,
                            name: Some(format!(
                                "第{}街道第{}社区{number:03}号网格",
                                street + 1,
                                community + 1
                            )),
                            polygon: lattice.square(gx, gy),
                        });
                    }
                }
            }
        }
        Ok(cells)
    }

    /// The district's outline (x = lon, y = lat).
    pub fn bounding_rect(&self) -> Rect<f64> {
        let lattice = self.lattice();
        let (cols, rows) = self.cells_per_community;
        Rect::new(
            lattice.coord(0, 0),
            lattice.coord(
                self.communities_per_street.saturating_mul(cols),
                self.streets.saturating_mul(rows),
            ),
        )
    }

    /// Number of cells the district has.
    pub fn cell_count(&self) -> usize {
        let (cols, rows) = self.cells_per_community;
        [self.streets, self.communities_per_street, cols, rows]
            .iter()
            .map(|&n| n as usize)
            .product()
    }

    fn code(&self, street: u32, community: u32, cell: u32) -> Result<CellCode, GridError> {
        CellCode::parse(&format!(
            "{}{street:03}{community:03}{cell:03}",
            self.division
        ))
    }

    fn check(&self) -> Result<(), GridError> {
        let bad = |reason: String| Err(GridError::BadDistrict { reason });
        let (cols, rows) = self.cells_per_community;
        if self.division.len() != 6 || !self.division.bytes().all(|b| b.is_ascii_digit()) {
            return bad(format!(
                "division must be 6 digits, got {:?}",
                self.division
            ));
        }
        let segment_ok = |n: u64| (1..=MAX_SEGMENT).contains(&n);
        if !segment_ok(self.streets.into())
            || !segment_ok(self.communities_per_street.into())
            || !segment_ok(u64::from(cols) * u64::from(rows))
        {
            return bad(format!(
                "streets ({}), communities per street ({}) and cells per community ({cols} x {rows}) \
                 must each be 1 to 999",
                self.streets, self.communities_per_street
            ));
        }
        if !(self.cell_m.is_finite() && self.cell_m > 0.0) {
            return bad(format!(
                "cell size must be positive metres, got {}",
                self.cell_m
            ));
        }
        let outline = self.bounding_rect();
        let in_range =
            |c: Coord<f64>| (-90.0..=90.0).contains(&c.y) && (-180.0..=180.0).contains(&c.x);
        if !(in_range(outline.min()) && in_range(outline.max())) {
            return bad(format!("district {outline:?} leaves the WGS-84 range"));
        }
        Ok(())
    }

    /// The vertex lattice. Degrees per metre are taken at the district's middle latitude, so cells are
    /// square there and within a fraction of a percent elsewhere in a city-sized district.
    fn lattice(&self) -> Lattice {
        let (north, west) = self.north_west;
        let rows_total = f64::from(self.streets) * f64::from(self.cells_per_community.1);
        let height_deg = rows_total * self.cell_m / metres_per_degree_lat(north);
        let middle = north - height_deg / 2.0;
        Lattice {
            west,
            north,
            dlon: self.cell_m / metres_per_degree_lon(middle),
            dlat: self.cell_m / metres_per_degree_lat(middle),
        }
    }
}

/// Maps lattice indices to coordinates. Every vertex is computed by the same expression from its integer
/// indices, so a vertex shared by four cells is bit-identical in all of them.
struct Lattice {
    west: f64,
    north: f64,
    dlon: f64,
    dlat: f64,
}

impl Lattice {
    fn coord(&self, gx: u32, gy: u32) -> Coord<f64> {
        Coord {
            x: self.west + f64::from(gx) * self.dlon,
            y: self.north - f64::from(gy) * self.dlat,
        }
    }

    /// The cell whose north-west corner is lattice vertex (gx, gy); exterior ring counter-clockwise as
    /// RFC 7946 asks.
    fn square(&self, gx: u32, gy: u32) -> MultiPolygon<f64> {
        let ring = LineString(vec![
            self.coord(gx, gy),
            self.coord(gx, gy + 1),
            self.coord(gx + 1, gy + 1),
            self.coord(gx + 1, gy),
            self.coord(gx, gy),
        ]);
        MultiPolygon(vec![Polygon::new(ring, vec![])])
    }
}

/// Length of one degree of latitude at `lat` on the WGS-84 ellipsoid (series expansion), metres.
fn metres_per_degree_lat(lat: f64) -> f64 {
    let phi = lat.to_radians();
    111_132.92 - 559.82 * (2.0 * phi).cos() + 1.175 * (4.0 * phi).cos() - 0.0023 * (6.0 * phi).cos()
}

/// Length of one degree of longitude at `lat` on the WGS-84 ellipsoid (series expansion), metres.
fn metres_per_degree_lon(lat: f64) -> f64 {
    let phi = lat.to_radians();
    111_412.84 * phi.cos() - 93.5 * (3.0 * phi).cos() + 0.118 * (5.0 * phi).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_has_36_cells_numbered_by_the_standard() {
        let cells = GeneratedDistrict::demo().cells();
        assert_eq!(cells.len(), 36);
        let codes: Vec<&str> = cells.iter().map(|c| c.code.as_str()).collect();
        assert_eq!(codes[0], "110102001001001");
        assert_eq!(codes[8], "110102001001009");
        assert_eq!(codes[9], "110102001002001");
        assert_eq!(codes[35], "110102002002009");
        assert!(codes.windows(2).all(|w| w[0] < w[1]), "codes in order");
    }

    #[test]
    fn numbering_runs_west_to_east_then_north_to_south() {
        let cells = GeneratedDistrict::demo().cells();
        let nw = |i: usize| cells[i].polygon.0[0].exterior().0[0];
        // Cell 002 is east of 001 on the same row; cell 004 starts the next row, south of 001.
        assert!(nw(1).x > nw(0).x && nw(1).y == nw(0).y);
        assert!(nw(3).y < nw(0).y && nw(3).x == nw(0).x);
        // Community 002 of street 001 lies east of community 001; street 002 lies south of street 001.
        assert!(nw(9).x > nw(2).x && nw(9).y == nw(0).y);
        assert!(nw(18).y < nw(6).y);
    }

    #[test]
    fn cells_are_250_m_squares() {
        let cell = &GeneratedDistrict::demo().cells()[0];
        let rect = geo::BoundingRect::bounding_rect(&cell.polygon).expect("non-empty");
        // About 0.00225° of latitude and 0.00293° of longitude at Beijing.
        assert!(
            (rect.height() - 0.002_25).abs() < 0.000_01,
            "{}",
            rect.height()
        );
        assert!(
            (rect.width() - 0.002_93).abs() < 0.000_01,
            "{}",
            rect.width()
        );
        let width_m = rect.width() * metres_per_degree_lon(39.91);
        assert!((width_m - 250.0).abs() < 0.5, "{width_m}");
    }

    #[test]
    fn refuses_bad_parameters() {
        let demo = GeneratedDistrict::demo();
        let bad = [
            GeneratedDistrict {
                division: "1101".to_owned(),
                ..demo.clone()
            },
            GeneratedDistrict {
                streets: 0,
                ..demo.clone()
            },
            GeneratedDistrict {
                communities_per_street: 1000,
                ..demo.clone()
            },
            GeneratedDistrict {
                cells_per_community: (40, 25),
                ..demo.clone()
            },
            GeneratedDistrict {
                cell_m: f64::NAN,
                ..demo.clone()
            },
            GeneratedDistrict {
                north_west: (-89.999, 116.36),
                ..demo.clone()
            },
        ];
        for district in bad {
            assert!(
                matches!(district.try_cells(), Err(GridError::BadDistrict { .. })),
                "{district:?}"
            );
        }
    }
}

//! Unit grid cells (单元网格): their codes, their polygons, and finding the cell a GPS fix falls in.
//!
//! A city is cut into cells, each patrolled by one grid worker. A cell is identified by a 15-digit
//! [`CellCode`] (division + street + community + cell) and covers a [`geo::MultiPolygon`] in WGS-84
//! (x = longitude, y = latitude, degrees). [`GridIndex`] holds the cells of a city or a district and answers
//! "which cell is this point in?" with an R-tree, and reads and writes the grid as GeoJSON.
//!
//! Rules the rest of the product relies on:
//! - a point outside every cell is [`Lookup::Outside`], never the nearest cell: a report filed outside the
//!   grid must be seen as such by a dispatcher;
//! - cells are closed sets, so a point on a border shared by several cells is covered by all of them; it is
//!   assigned to the one with the smallest code, so the answer never depends on load order.
//!
//! [`GeneratedDistrict`] lays out a regular district for demos, tests and benchmarks.

mod code;
mod error;
mod generate;
mod geojson_io;
mod index;
mod validate;

pub use code::CellCode;
pub use error::GridError;
pub use generate::GeneratedDistrict;
pub use index::{GridIndex, Lookup};

/// One unit grid cell: a code, an optional human name, and its area.
#[derive(Debug, Clone, PartialEq)]
pub struct GridCell {
    pub code: CellCode,
    /// Display name, e.g. "西长安街街道府右街社区03号网格".
    pub name: Option<String>,
    /// The cell's area, x = longitude, y = latitude (WGS-84 degrees). Usually one polygon; a cell split by
    /// a road or a river has several.
    pub polygon: geo::MultiPolygon<f64>,
}

impl GridCell {
    /// A point inside the cell, (lat, lon): where a demo or a test puts a report.
    pub fn inside_point(&self) -> Option<(f64, f64)> {
        use geo::InteriorPoint;
        self.polygon.interior_point().map(|p| (p.y(), p.x()))
    }
}

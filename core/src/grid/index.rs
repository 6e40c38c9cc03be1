//! [`GridIndex`]: the cells of a city or district, and point lookup through an R-tree.

use std::fmt;
use std::ops::ControlFlow;

use geo::{BoundingRect, Coord, Intersects, Polygon};
use rstar::{AABB, RTree, RTreeObject};

use super::validate::{check_geometry, in_range};
use super::{CellCode, GridCell, GridError};

/// The answer to "which cell is this point in?".
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lookup<'a> {
    Inside(&'a GridCell),
    /// The point is in no cell (or is not a valid WGS-84 position).
    Outside,
}

impl<'a> Lookup<'a> {
    /// The cell, if the point is inside one.
    pub fn cell(self) -> Option<&'a GridCell> {
        match self {
            Lookup::Inside(cell) => Some(cell),
            Lookup::Outside => None,
        }
    }

    pub fn is_inside(self) -> bool {
        matches!(self, Lookup::Inside(_))
    }
}

/// One polygon of one cell, as stored in the R-tree. Parts are indexed separately so that a cell made of
/// two distant blocks does not put a large empty box into the tree.
#[derive(Debug, Clone)]
struct PartEntry {
    envelope: AABB<[f64; 2]>,
    /// Index into `GridIndex::cells`; cells are sorted by code, so a smaller index is a smaller code.
    cell: usize,
    part: usize,
}

impl RTreeObject for PartEntry {
    type Envelope = AABB<[f64; 2]>;

    fn envelope(&self) -> Self::Envelope {
        self.envelope
    }
}

/// The grid cells of a city or district, sorted by code, with an R-tree over their polygons.
#[derive(Clone)]
pub struct GridIndex {
    cells: Vec<GridCell>,
    tree: RTree<PartEntry>,
}

impl GridIndex {
    /// Builds an index, refusing duplicate codes, cells without polygons, degenerate rings and
    /// coordinates outside WGS-84 ranges. Errors about one cell are [`GridError::InCell`].
    pub fn new(cells: Vec<GridCell>) -> Result<Self, GridError> {
        for cell in &cells {
            check_geometry(&cell.polygon).map_err(|reason| GridError::InCell {
                code: cell.code.clone(),
                reason: Box::new(reason),
            })?;
        }
        Self::from_checked(cells)
    }

    /// Builds an index from cells whose geometry is already checked; only duplicates remain to refuse.
    pub(super) fn from_checked(mut cells: Vec<GridCell>) -> Result<Self, GridError> {
        cells.sort_by(|a, b| a.code.cmp(&b.code));
        if let Some(pair) = cells.windows(2).find(|w| w[0].code == w[1].code) {
            return Err(GridError::DuplicateCode {
                code: pair[0].code.clone(),
                first_feature: None,
            });
        }
        let tree = RTree::bulk_load(part_entries(&cells));
        Ok(Self { cells, tree })
    }

    /// The cell containing (lat, lon), WGS-84 degrees.
    ///
    /// The R-tree yields the polygons whose bounding box holds the point, then an exact (robust)
    /// point-in-polygon test decides. Cells are closed: a point on a border shared by several cells goes
    /// to the one with the smallest code. A point in a hole is not in the cell. NaN or out-of-range
    /// coordinates are [`Lookup::Outside`].
    pub fn locate(&self, lat: f64, lon: f64) -> Lookup<'_> {
        if !in_range(lat, lon) {
            return Lookup::Outside;
        }
        let point = Coord { x: lon, y: lat };
        let mut best: Option<usize> = None;
        let query = AABB::from_point([lon, lat]);
        // Internal iteration (a recursive walk) ran ~10% faster than the iterator in benches/grid.rs.
        let _: ControlFlow<()> = self
            .tree
            .locate_in_envelope_intersecting_int(&query, |entry| {
                // Only a smaller code can change the answer, so skip the exact test otherwise.
                if best.is_none_or(|b| entry.cell < b) && self.part(entry).intersects(&point) {
                    best = Some(entry.cell);
                }
                ControlFlow::Continue(())
            });
        best.map_or(Lookup::Outside, |i| Lookup::Inside(&self.cells[i]))
    }

    /// The cell with this code.
    pub fn get(&self, code: &CellCode) -> Option<&GridCell> {
        self.cells
            .binary_search_by(|cell| cell.code.cmp(code))
            .ok()
            .map(|i| &self.cells[i])
    }

    /// All cells, sorted by code.
    pub fn cells(&self) -> &[GridCell] {
        &self.cells
    }

    pub fn len(&self) -> usize {
        self.cells.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// The cells in a supervisor's scope (a code prefix: district, street or community), in code order.
    pub fn cells_within<'a>(
        &'a self,
        scope_prefix: &'a str,
    ) -> impl Iterator<Item = &'a GridCell> + 'a {
        // Codes sharing a prefix are contiguous in sorted order and start at the first code >= prefix.
        let start = self
            .cells
            .partition_point(|cell| cell.code.as_str() < scope_prefix);
        self.cells[start..]
            .iter()
            .take_while(move |cell| cell.code.is_within(scope_prefix))
    }

    fn part(&self, entry: &PartEntry) -> &Polygon<f64> {
        &self.cells[entry.cell].polygon.0[entry.part]
    }
}

impl fmt::Debug for GridIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GridIndex")
            .field("cells", &self.cells.len())
            .field("polygons", &self.tree.size())
            .finish()
    }
}

fn part_entries(cells: &[GridCell]) -> Vec<PartEntry> {
    cells
        .iter()
        .enumerate()
        .flat_map(|(cell, grid_cell)| {
            grid_cell
                .polygon
                .0
                .iter()
                .enumerate()
                .filter_map(move |(part, polygon)| {
                    // Checked polygons always have a bounding box; an empty one could not contain anything.
                    let rect = polygon.bounding_rect()?;
                    Some(PartEntry {
                        envelope: AABB::from_corners(rect.min().into(), rect.max().into()),
                        cell,
                        part,
                    })
                })
        })
        .collect()
}

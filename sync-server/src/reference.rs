//! The reference data the server owns (catalogue, routing rules, work calendar, grid cells), loaded from
//! the database; whatever was never imported is the core's shipped default.

use gridpatrol_core::calendar::WorkCalendar;
use gridpatrol_core::catalog::Catalog;
use gridpatrol_core::dispatch::RoutingRules;
use gridpatrol_core::grid::GridIndex;

use crate::db::{DbError, District, Read, RefName};

pub struct Reference {
    pub catalog: Catalog,
    /// `catalog.version()`, computed once: every sync response names it.
    pub catalog_version: String,
    pub routing: RoutingRules,
    pub calendar: WorkCalendar,
    /// Empty until grids are imported.
    pub grids: GridIndex,
    pub districts: Vec<District>,
    /// Changes whenever any imported document changes.
    pub version: String,
}

impl Reference {
    pub fn load(r: &Read<'_>) -> Result<Reference, DbError> {
        let corrupt = |what: &str, e: &dyn std::fmt::Display| {
            DbError::Corrupt(format!("stored {what} does not parse: {e}"))
        };
        let catalog = match r.reference(RefName::Catalog)? {
            Some((_, body)) => Catalog::from_csv(&body).map_err(|e| corrupt("catalogue", &e))?,
            None => Catalog::builtin(),
        };
        let routing = match r.reference(RefName::Routing)? {
            Some((_, body)) => {
                RoutingRules::from_csv(&body).map_err(|e| corrupt("routing rules", &e))?
            }
            None => RoutingRules::builtin(),
        };
        let calendar = match r.reference(RefName::Calendar)? {
            Some((_, body)) => {
                WorkCalendar::from_json(&body).map_err(|e| corrupt("calendar", &e))?
            }
            None => WorkCalendar::builtin(),
        };
        let grids = match r.reference(RefName::Grids)? {
            Some((_, body)) => GridIndex::from_geojson(&body).map_err(|e| corrupt("grids", &e))?,
            None => GridIndex::new(Vec::new()).map_err(|e| corrupt("grids", &e))?,
        };
        Ok(Reference {
            catalog_version: catalog.version(),
            catalog,
            routing,
            calendar,
            grids,
            districts: r.districts()?,
            version: r.reference_versions()?,
        })
    }

    /// The version of the grid cells a worker with `cells` sees: it changes with the imported reference
    /// data and with the worker's cells (a reassignment), never otherwise.
    pub fn grids_version(&self, cells: &[String]) -> String {
        gridpatrol_core::refdata::fingerprint(&format!("{}|{}", self.version, cells.join(",")))
    }

    /// Whether a cell code or prefix names at least one known cell.
    pub fn knows_cells(&self, prefix: &str) -> bool {
        self.grids.cells_within(prefix).next().is_some()
    }
}

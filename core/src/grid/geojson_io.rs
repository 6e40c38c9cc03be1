//! Reading and writing a grid as a GeoJSON FeatureCollection, the format city GIS departments hand out.
//!
//! Each Feature has `properties.code` (a 15-digit string), an optional `properties.name`, and a Polygon
//! or MultiPolygon geometry in [lon, lat] order. The JSON is parsed once as a whole, then feature by
//! feature, so that every error can say which feature (index and code) is wrong.

use std::collections::HashMap;

use geo::{Coord, LineString, MultiPolygon, Polygon};
use geojson::{Feature, FeatureCollection, Geometry, JsonObject, JsonValue, PolygonType, Position};
use serde_json::Value;

use super::validate::{check_coord, check_geometry};
use super::{CellCode, GridCell, GridError, GridIndex};

impl GridIndex {
    /// Reads a GeoJSON FeatureCollection of cells (see the module docs for the expected shape).
    ///
    /// A numeric `code` is refused rather than converted: JSON numbers lose leading zeros and, in many
    /// tools, digits beyond 2^53, so the file must say what it means. Errors about one feature are
    /// [`GridError::InFeature`].
    pub fn from_geojson(text: &str) -> Result<Self, GridError> {
        let features = feature_array(text)?;
        let mut cells = Vec::with_capacity(features.len());
        let mut first_use: HashMap<CellCode, usize> = HashMap::with_capacity(features.len());
        for (index, raw) in features.into_iter().enumerate() {
            let code_hint = code_as_written(&raw);
            let in_feature = |reason| GridError::InFeature {
                index,
                code: code_hint.clone(),
                reason: Box::new(reason),
            };
            let cell = cell_from_feature(raw).map_err(in_feature)?;
            if let Some(&first) = first_use.get(&cell.code) {
                return Err(in_feature(GridError::DuplicateCode {
                    code: cell.code,
                    first_feature: Some(first),
                }));
            }
            first_use.insert(cell.code.clone(), index);
            cells.push(cell);
        }
        Self::from_checked(cells)
    }

    /// Writes the grid as a GeoJSON FeatureCollection that [`GridIndex::from_geojson`] reads back to equal
    /// cells. A single-polygon cell is written as a Polygon, others as a MultiPolygon.
    pub fn to_geojson(&self) -> String {
        FeatureCollection {
            bbox: None,
            features: self.cells().iter().map(cell_to_feature).collect(),
            foreign_members: None,
        }
        .to_string()
    }
}

/// Parses the text and returns the raw `features` array of a FeatureCollection.
fn feature_array(text: &str) -> Result<Vec<Value>, GridError> {
    let value: Value = serde_json::from_str(text).map_err(GridError::NotJson)?;
    let Value::Object(mut object) = value else {
        return Err(GridError::NotFeatureCollection {
            found: format!("a JSON {}", json_kind(&value)),
        });
    };
    match object.get("type").and_then(Value::as_str) {
        Some("FeatureCollection") => {}
        Some(other) => {
            return Err(GridError::NotFeatureCollection {
                found: format!("type {other:?}"),
            });
        }
        None => {
            return Err(GridError::NotFeatureCollection {
                found: "an object without a \"type\" string".to_owned(),
            });
        }
    }
    match object.remove("features") {
        Some(Value::Array(features)) => Ok(features),
        Some(other) => Err(GridError::NotFeatureCollection {
            found: format!("\"features\" as a JSON {}", json_kind(&other)),
        }),
        None => Err(GridError::NotFeatureCollection {
            found: "no \"features\" array".to_owned(),
        }),
    }
}

/// The `code` property as written, for error messages, read before anything else can fail.
fn code_as_written(raw: &Value) -> Option<String> {
    match raw.get("properties")?.get("code")? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn cell_from_feature(raw: Value) -> Result<GridCell, GridError> {
    let feature = Feature::try_from(raw).map_err(|e| GridError::BadFeature(Box::new(e)))?;
    let properties = feature.properties.unwrap_or_default();
    let code = code_property(&properties)?;
    let name = name_property(&properties)?;
    let geometry = feature.geometry.ok_or(GridError::MissingGeometry)?;
    let polygon = multi_polygon(geometry)?;
    check_geometry(&polygon)?;
    Ok(GridCell {
        code,
        name,
        polygon,
    })
}

fn code_property(properties: &JsonObject) -> Result<CellCode, GridError> {
    match properties.get("code") {
        None | Some(Value::Null) => Err(GridError::MissingCode),
        Some(Value::String(s)) => CellCode::parse(s),
        Some(Value::Number(n)) => Err(GridError::NumericCode {
            number: n.to_string(),
        }),
        Some(other) => Err(GridError::CodeNotString {
            found: json_kind(other),
        }),
    }
}

fn name_property(properties: &JsonObject) -> Result<Option<String>, GridError> {
    match properties.get("name") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(GridError::NameNotString {
            found: json_kind(other),
        }),
    }
}

fn multi_polygon(geometry: Geometry) -> Result<MultiPolygon<f64>, GridError> {
    match geometry.value {
        geojson::Value::Polygon(rings) => Ok(MultiPolygon(vec![polygon(&rings)?])),
        geojson::Value::MultiPolygon(polygons) => polygons
            .iter()
            .map(polygon)
            .collect::<Result<Vec<_>, _>>()
            .map(MultiPolygon),
        other => Err(GridError::UnsupportedGeometry {
            kind: other.type_name(),
        }),
    }
}

fn polygon(rings: &PolygonType) -> Result<Polygon<f64>, GridError> {
    let mut rings = rings.iter().map(|ring| line_string(ring));
    let exterior = rings.next().ok_or_else(|| GridError::DegenerateGeometry {
        reason: "polygon has no rings".to_owned(),
    })??;
    let interiors = rings.collect::<Result<Vec<_>, _>>()?;
    Ok(Polygon::new(exterior, interiors))
}

fn line_string(positions: &[Position]) -> Result<LineString<f64>, GridError> {
    positions
        .iter()
        .map(|position| coord(position))
        .collect::<Result<Vec<_>, _>>()
        .map(LineString)
}

/// A GeoJSON position is [lon, lat, optional altitude]; altitude is dropped.
fn coord(position: &[f64]) -> Result<Coord<f64>, GridError> {
    let [lon, lat, ..] = *position else {
        return Err(GridError::DegenerateGeometry {
            reason: format!("position {position:?} needs at least [lon, lat]"),
        });
    };
    let coord = Coord { x: lon, y: lat };
    check_coord(coord)?;
    Ok(coord)
}

fn cell_to_feature(cell: &GridCell) -> Feature {
    let mut properties = JsonObject::new();
    properties.insert("code".to_owned(), Value::from(cell.code.as_str()));
    if let Some(name) = &cell.name {
        properties.insert("name".to_owned(), Value::from(name.as_str()));
    }
    let value = match cell.polygon.0.as_slice() {
        [single] => geojson::Value::Polygon(rings(single)),
        parts => geojson::Value::MultiPolygon(parts.iter().map(rings).collect()),
    };
    Feature {
        bbox: None,
        geometry: Some(Geometry::new(value)),
        id: None,
        properties: Some(properties),
        foreign_members: None,
    }
}

fn rings(polygon: &Polygon<f64>) -> PolygonType {
    std::iter::once(polygon.exterior())
        .chain(polygon.interiors())
        .map(|ring| ring.0.iter().map(|c| vec![c.x, c.y]).collect())
        .collect()
}

fn json_kind(value: &JsonValue) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

//! What can go wrong when reading codes, building an index or importing GeoJSON.
//!
//! Messages are English with a short Chinese gloss, because the people who fix a bad grid file are often
//! GIS staff at a street office who read Chinese first.

use super::CellCode;

/// Why a cell code, a cell or a grid file was refused.
///
/// Errors about one cell are wrapped in [`GridError::InCell`] (from [`GridIndex::new`]) or
/// [`GridError::InFeature`] (from [`GridIndex::from_geojson`]) so the message says which one is wrong;
/// the wrapped `reason` says why.
///
/// [`GridIndex::new`]: super::GridIndex::new
/// [`GridIndex::from_geojson`]: super::GridIndex::from_geojson
#[derive(Debug, thiserror::Error)]
pub enum GridError {
    #[error("cell code must be 15 digits (网格编码须为15位数字): got {got:?}")]
    BadCode { got: String },

    #[error("duplicate cell code {code} (网格编码重复){}", first_use(.first_feature))]
    DuplicateCode {
        code: CellCode,
        /// In a GeoJSON import: the index of the feature that used the code first.
        first_feature: Option<usize>,
    },

    #[error(
        "cell has no polygon (网格没有面): at least one polygon with an exterior ring is needed"
    )]
    EmptyGeometry,

    #[error("degenerate polygon (多边形退化): {reason}")]
    DegenerateGeometry { reason: String },

    #[error(
        "coordinate out of range (坐标超出范围): lat {lat}, lon {lon}; latitude must lie within \
         [-90, 90] and longitude within [-180, 180], and GeoJSON positions are [lon, lat]"
    )]
    CoordinateOutOfRange { lat: f64, lon: f64 },

    #[error("cell {code}: {reason}")]
    InCell {
        code: CellCode,
        reason: Box<GridError>,
    },

    #[error("grid file is not valid JSON (网格文件不是有效的JSON): {0}")]
    NotJson(serde_json::Error),

    #[error("grid file must be a GeoJSON FeatureCollection (须为GeoJSON要素集合): found {found}")]
    NotFeatureCollection { found: String },

    #[error("feature {index}{}: {reason}", code_hint(.code))]
    InFeature {
        /// Position of the feature in the collection's `features` array, from 0.
        index: usize,
        /// The feature's `code` property as written, when it could be read.
        code: Option<String>,
        reason: Box<GridError>,
    },

    #[error("not a valid GeoJSON Feature (不是有效的GeoJSON要素): {0}")]
    BadFeature(Box<geojson::Error>),

    #[error("property \"code\" is missing (缺少网格编码属性 code)")]
    MissingCode,

    #[error(
        "property \"code\" is the number {number}; write it as a quoted string, \"{number}\", so that \
         leading zeros and all 15 digits survive (网格编码须加引号写成字符串)"
    )]
    NumericCode { number: String },

    #[error("property \"code\" must be a string, found {found} (网格编码须为字符串)")]
    CodeNotString { found: &'static str },

    #[error("property \"name\" must be a string, found {found} (名称须为字符串)")]
    NameNotString { found: &'static str },

    #[error("feature has no geometry (要素缺少几何)")]
    MissingGeometry,

    #[error("geometry must be a Polygon or MultiPolygon, found {kind} (几何须为面或多面)")]
    UnsupportedGeometry { kind: &'static str },

    #[error("generated district parameters are invalid (生成参数无效): {reason}")]
    BadDistrict { reason: String },
}

fn first_use(first_feature: &Option<usize>) -> String {
    match first_feature {
        Some(index) => format!("; first used by feature {index}"),
        None => String::new(),
    }
}

fn code_hint(code: &Option<String>) -> String {
    match code {
        Some(code) => format!(" (code {code:?})"),
        None => String::new(),
    }
}

//! The case (案卷) as people see it: what was reported, where, with which photos, and what happened since.
//!
//! A [`Case`] is a read model: it is derived from the case's automerge document ([`crate::doc`]) by
//! replaying its timeline, never edited directly.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

use crate::catalog::CategoryKey;
use crate::photo::GpsFix;
use crate::timeline::Timeline;
use crate::workflow::Stage;

/// Bad input from a person or a caller, refused before anything is written.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InputError {
    #[error("latitude {0} is out of range -90..90 (纬度超出范围)")]
    Latitude(f64),
    #[error("longitude {0} is out of range -180..180 (经度超出范围)")]
    Longitude(f64),
    #[error("accuracy {0} m must be a positive number of metres (定位精度须为正数)")]
    Accuracy(f64),
    #[error("not a case id: {0:?} (案件编号格式错误)")]
    CaseId(String),
    #[error("unknown category {0:?} (未知的案件类别)")]
    UnknownCategory(String),
    #[error(
        "category {input:?} is ambiguous, it is the legacy code of {candidates} (旧编码对应多个类别，请用新编码)"
    )]
    AmbiguousCategory { input: String, candidates: String },
    #[error("{field} is too long: {len} characters, at most {max} (内容过长)")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error(
        "the point ({lat}, {lon}) is outside every grid cell of this store (位置不在任何网格内)"
    )]
    OutsideGrid { lat: f64, lon: f64 },
    #[error("no case {0} in this store (案件不存在)")]
    NoSuchCase(CaseId),
    #[error("nothing to change (没有需要修改的内容)")]
    EmptyEdit,
    /// The worker was given other cells: a case of the old ones that this device did not report and
    /// is not to verify can be read but not changed (the server would refuse the whole sync).
    #[error(
        "case {0} is no longer in your cells and was not reported here: it can be read but not changed (案件已不在您负责的网格内，只能查看)"
    )]
    OutOfScope(CaseId),
    /// Only the device that reported a case may correct it (the server refuses anyone else's edit).
    #[error(
        "case {0} was reported on another device: only the reporting device may correct it (只有上报设备可以修改案件)"
    )]
    NotReporter(CaseId),
    /// Only the grid worker a verification was sent to may verify.
    #[error("case {0} is not waiting for your verification (该案件不是您的核查任务)")]
    NotVerifier(CaseId),
}

/// A case id: a UUID v7, so ids sort by creation time and never collide across offline devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CaseId(pub Uuid);

impl CaseId {
    pub fn generate() -> Self {
        CaseId(Uuid::now_v7())
    }
}

impl fmt::Display for CaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for CaseId {
    type Err = InputError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s.trim())
            .map(CaseId)
            .map_err(|_| InputError::CaseId(s.to_owned()))
    }
}

/// A WGS-84 fix as the PDA's GPS gives it. Stored as WGS-84 always; map offsets (GCJ-02) are applied
/// only for drawing.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Location {
    pub lat: f64,
    pub lon: f64,
    pub accuracy_m: Option<f64>,
    pub fix_time: Option<DateTime<Utc>>,
}

impl Location {
    pub fn new(lat: f64, lon: f64) -> Result<Self, InputError> {
        if !(-90.0..=90.0).contains(&lat) {
            return Err(InputError::Latitude(lat));
        }
        if !(-180.0..=180.0).contains(&lon) {
            return Err(InputError::Longitude(lon));
        }
        Ok(Location {
            lat,
            lon,
            accuracy_m: None,
            fix_time: None,
        })
    }

    pub fn with_accuracy(mut self, metres: f64) -> Result<Self, InputError> {
        if !(metres.is_finite() && metres > 0.0) {
            return Err(InputError::Accuracy(metres));
        }
        self.accuracy_m = Some(metres);
        Ok(self)
    }

    pub fn with_fix_time(mut self, at: DateTime<Utc>) -> Self {
        self.fix_time = Some(at);
        self
    }
}

/// A photo as the case references it. The image itself is a content-addressed blob (sha256).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhotoRef {
    pub sha256: String,
    pub thumb_sha256: String,
    pub bytes: u64,
    pub width: u32,
    pub height: u32,
    /// When the camera took it (EXIF), as the camera wrote it.
    pub taken_at: Option<String>,
    /// Where the camera says it was taken (EXIF GPS), WGS-84.
    pub gps: Option<GpsFix>,
    pub added_by: String,
    pub added_at: DateTime<Utc>,
}

/// The facts a report starts with. Later changes are [`CaseEdit`]s in the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseDetails {
    pub category: CategoryKey,
    pub address: String,
    pub description: String,
}

/// A correction of the report before it is registered. Fields left `None` stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CaseEdit {
    pub category: Option<CategoryKey>,
    pub address: Option<String>,
    pub description: Option<String>,
}

impl CaseEdit {
    pub fn is_empty(&self) -> bool {
        self.category.is_none() && self.address.is_none() && self.description.is_none()
    }

    pub fn apply_to(&self, details: &mut CaseDetails) {
        if let Some(c) = &self.category {
            details.category = c.clone();
        }
        if let Some(a) = &self.address {
            details.address = a.clone();
        }
        if let Some(d) = &self.description {
            details.description = d.clone();
        }
    }
}

/// Limits on free text, so that one case document stays small enough to sync over a weak link.
pub const MAX_DESCRIPTION_CHARS: usize = 2000;
pub const MAX_ADDRESS_CHARS: usize = 200;

pub fn check_text(field: &'static str, text: &str, max: usize) -> Result<(), InputError> {
    let len = text.chars().count();
    if len > max {
        return Err(InputError::TooLong { field, len, max });
    }
    Ok(())
}

/// A case as derived from its document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Case {
    pub id: CaseId,
    pub reporter: String,
    pub device: String,
    pub cell: Option<String>,
    pub location: Location,
    pub created_at: DateTime<Utc>,
    /// The details as reported, with every valid edit applied in timeline order.
    pub details: CaseDetails,
    pub photos: Vec<PhotoRef>,
    pub timeline: Timeline,
}

impl Case {
    /// `None` only for a document whose report event is missing (never written by this code).
    pub fn stage(&self) -> Option<Stage> {
        self.timeline.stage
    }
}

#[derive(Debug, thiserror::Error)]
#[error("placeholder")]
pub struct PhotoError;
// Temporary: the real module lands from the photo branch.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GpsFix {
    pub lat: f64,
    pub lon: f64,
}

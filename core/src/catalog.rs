#[derive(Debug, thiserror::Error)]
#[error("placeholder")]
pub struct CatalogError;
// Temporary: the real module lands from the refdata branch.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct CategoryKey {
    pub standard: String,
    pub code: String,
}

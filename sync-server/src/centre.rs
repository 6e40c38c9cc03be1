//! The command centre (指挥中心): the server's shared state, one per process. HTTP handlers, the admin
//! commands and the supervision job all work through it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use gridpatrol_core::dispatch::SupervisionPolicy;
use gridpatrol_core::doc::actor_for;
use gridpatrol_core::sync::{DeviceLimits, ServerSync};

use crate::blobs::{BlobStore, UploadPolicy};
use crate::db::{Db, DbError};
use crate::error::ServerError;
use crate::metrics::Metrics;
use crate::reference::Reference;

/// Settings of a server process.
#[derive(Debug, Clone)]
pub struct Options {
    /// Case documents kept open in the LRU.
    pub cache_docs: usize,
    pub supervision: SupervisionPolicy,
    /// What devices may send.
    pub device_limits: DeviceLimits,
    /// How far ahead a handling deadline may be set (dispatch or extension).
    pub max_deadline: chrono::Duration,
    /// Photo uploads: per-device quota of unfinished uploads, their expiry, the pixel cap.
    pub uploads: UploadPolicy,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            cache_docs: 1_000,
            supervision: SupervisionPolicy::default(),
            device_limits: DeviceLimits::default(),
            max_deadline: chrono::Duration::days(90),
            uploads: UploadPolicy::default(),
        }
    }
}

pub struct CommandCentre {
    pub data_dir: PathBuf,
    pub db: Db,
    /// The protocol's server side, with this process's own automerge actor.
    pub sync: ServerSync,
    reference: RwLock<Arc<Reference>>,
    pub blobs: BlobStore,
    pub metrics: Metrics,
    pub options: Options,
}

impl CommandCentre {
    /// Opens the data directory (creating the database if needed).
    pub fn open(data_dir: &Path, options: Options) -> Result<CommandCentre, ServerError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            ServerError::Io(format!(
                "cannot create the data directory {}: {e} (无法创建数据目录)",
                data_dir.display()
            ))
        })?;
        // One actor per process, so several processes on one database never write as the same actor.
        let actor = actor_for(&format!("server-{}", uuid::Uuid::now_v7()));
        let db = Db::open(data_dir, actor.clone(), options.cache_docs)?;
        let reference = db.read(Reference::load)?;
        Ok(CommandCentre {
            data_dir: data_dir.to_owned(),
            sync: ServerSync {
                limits: options.device_limits.clone(),
                ..ServerSync::new(actor)
            },
            db,
            reference: RwLock::new(Arc::new(reference)),
            blobs: BlobStore::open(data_dir)?,
            metrics: Metrics::default(),
            options,
        })
    }

    /// The reference data in force.
    pub fn reference(&self) -> Arc<Reference> {
        self.reference
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reloads the reference data when an admin command changed it. Returns whether it did.
    pub fn refresh_reference(&self) -> Result<bool, DbError> {
        let current = self.reference();
        let version = self.db.read(|r| r.reference_versions())?;
        let districts = self.db.read(|r| r.districts())?;
        if version == current.version && districts == current.districts {
            return Ok(false);
        }
        let fresh = self.db.read(Reference::load)?;
        *self.reference.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(fresh);
        tracing::info!(version = %version, "reference data reloaded");
        Ok(true)
    }

    /// Closes the database (after the HTTP server has drained).
    pub fn close(self) -> Result<(), DbError> {
        self.db.close()
    }
}

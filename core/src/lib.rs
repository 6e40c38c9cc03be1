//! GridPatrol's device core.
//!
//! Everything a PDA needs to work offline lives here, free of any server or CLI stack so that the phone
//! links only this: the domain ([`case`], [`workflow`], [`timeline`]), reference data ([`catalog`],
//! [`calendar`], [`grid`]), the per-case automerge document ([`doc`]), the SQLite device store ([`store`])
//! and photo processing ([`photo`]).

pub mod action;
pub mod calendar;
pub mod case;
pub mod catalog;
pub mod dispatch;
pub mod doc;
pub mod error;
pub mod grid;
pub mod indicators;
pub mod photo;
pub mod refdata;
pub mod store;
pub mod sync;
pub mod timeline;
pub mod workflow;

pub use error::{Error, Result};

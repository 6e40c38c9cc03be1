//! `gridpatrol-server`: the sync server of GridPatrol. It merges the case documents grid workers' PDAs
//! send, runs the dispatch pool and the closed loop (register → dispatch → handle → verify → close),
//! supervises deadlines and serves the desks' HTTP API. The domain and the sync protocol are the core's
//! (`gridpatrol-core`); this crate stores, authorizes, routes and serves.

// The hand-written OpenAPI document (http/openapi.rs) is one `json!` deeper than the default limit.
#![recursion_limit = "256"]

pub mod actions;
pub mod admin;
pub mod blobs;
pub mod centre;
pub mod cli;
pub mod connections;
pub mod db;
pub mod demo;
pub mod desk;
pub mod doc_cache;
pub mod error;
pub mod events;
pub mod http;
pub mod listing;
pub mod metrics;
pub mod notices;
pub mod pool;
pub mod principal;
pub mod reference;
pub mod serve;
pub mod supervision;
pub mod sync;

pub use error::{Result, ServerError};

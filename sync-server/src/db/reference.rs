//! Reference data (catalogue, routing rules, work calendar, grid cells), versioned, and the districts.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::{DbError, Read, Write};

/// The reference documents the server owns and devices cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefName {
    Catalog,
    Routing,
    Calendar,
    Grids,
}

impl RefName {
    pub fn as_str(self) -> &'static str {
        match self {
            RefName::Catalog => "catalog",
            RefName::Routing => "routing",
            RefName::Calendar => "calendar",
            RefName::Grids => "grids",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct District {
    pub code: String,
    pub name: String,
}

fn reference(conn: &Connection, name: RefName) -> Result<Option<(String, String)>, DbError> {
    Ok(conn
        .prepare_cached("SELECT version, body FROM reference WHERE name = ?1")?
        .query_row([name.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

fn districts(conn: &Connection) -> Result<Vec<District>, DbError> {
    let mut stmt = conn.prepare_cached("SELECT code, name FROM district ORDER BY code")?;
    let rows = stmt.query_map([], |r| {
        Ok(District {
            code: r.get(0)?,
            name: r.get(1)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn meta(conn: &Connection, key: &str) -> Result<Option<String>, DbError> {
    Ok(conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?)
}

impl Read<'_> {
    /// (version, body) of a reference document, if imported.
    pub fn reference(&self, name: RefName) -> Result<Option<(String, String)>, DbError> {
        reference(self.conn, name)
    }

    /// The versions of every imported reference document, concatenated (changes when any changes).
    pub fn reference_versions(&self) -> Result<String, DbError> {
        Ok(self.conn.query_row(
            "SELECT coalesce(group_concat(name || ':' || version, ','), '') FROM
                 (SELECT name, version FROM reference ORDER BY name)",
            [],
            |r| r.get(0),
        )?)
    }

    pub fn districts(&self) -> Result<Vec<District>, DbError> {
        districts(self.conn)
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>, DbError> {
        meta(self.conn, key)
    }
}

impl Write<'_> {
    pub fn reference(&self, name: RefName) -> Result<Option<(String, String)>, DbError> {
        reference(&self.tx, name)
    }

    pub fn put_reference(&self, name: RefName, version: &str, body: &str) -> Result<(), DbError> {
        self.tx.execute(
            "INSERT INTO reference (name, version, body, updated_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (name) DO UPDATE SET version = ?2, body = ?3, updated_ms = ?4",
            params![name.as_str(), version, body, self.now_ms],
        )?;
        Ok(())
    }

    pub fn districts(&self) -> Result<Vec<District>, DbError> {
        districts(&self.tx)
    }

    /// Returns false when the code exists.
    pub fn add_district(&self, d: &District) -> Result<bool, DbError> {
        let n = self.tx.execute(
            "INSERT OR IGNORE INTO district (code, name, created_ms) VALUES (?1, ?2, ?3)",
            params![d.code, d.name, self.now_ms],
        )?;
        Ok(n == 1)
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>, DbError> {
        meta(&self.tx, key)
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), DbError> {
        self.tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = ?2",
            params![key, value],
        )?;
        Ok(())
    }
}

//! The OpenAPI 3.1 document of the API, served at `/api/v1/openapi.json`. A test checks that every route
//! in [`super::routes`] appears here with its method.

use axum::Json;
use serde_json::{Value, json};

fn error_responses(codes: &[&str]) -> Value {
    let mut out = serde_json::Map::new();
    for code in codes {
        let description = match *code {
            "400" => "Malformed request (请求格式错误)",
            "401" => "Missing or unknown token (令牌无效)",
            "403" => "Refused by an authorization or scope rule, with the reason (无权限)",
            "404" => "No such case or blob (不存在)",
            "409" => {
                "Conflicts with the current state: a workflow refusal, a bound device, an upload offset (状态冲突)"
            }
            "413" => "Body too large (请求体过大)",
            "422" => "Content refused: a hash mismatch, no route to dispatch by (内容无效)",
            _ => "Error",
        };
        out.insert(
            (*code).to_owned(),
            json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}),
        );
    }
    Value::Object(out)
}

fn ok_json(schema: Value, extra_errors: &[&str]) -> Value {
    let mut responses = error_responses(extra_errors);
    responses.as_object_mut().expect("a map").insert(
        "200".into(),
        json!({"description": "OK", "content": {"application/json": {"schema": schema}}}),
    );
    responses
}

fn schema(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn api_document() -> Value {
    let device = json!([{"deviceToken": []}]);
    let desk = json!([{"deskToken": []}]);
    let either = json!([{"deviceToken": []}, {"deskToken": []}]);
    let catalog_version = json!({"description": "The version (fingerprint) of the catalogue in force: a device whose own differs fetches `GET /api/v1/catalog?format=csv`", "schema": {"type": "string"}});
    let grids_version = json!({"description": "The version of the grid cells this token sees: changes when grids are re-imported or the worker is given other cells; a device whose own differs fetches `GET /api/v1/grids`", "schema": {"type": "string"}});
    // A date or an RFC 3339 instant, as `GET /api/v1/stats` takes them.
    let instant = json!({"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]+)?)?([Zz]|[+-][0-9]{2}:[0-9]{2}))?$"});
    let case_id = json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}});
    let sha = json!({"name": "sha256", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"}});
    let stages = gridpatrol_core::workflow::Stage::ALL.map(|s| s.as_str());
    let actions = crate::actions::DESK_ACTIONS.map(|a| a.as_str());
    let orders = crate::db::CaseOrder::ALL.map(|o| o.as_str());
    let deadline_states = crate::listing::DEADLINE_STATES.map(crate::supervision::state_name);
    // Apart from the document below, which is at serde_json's macro recursion limit.
    let term_schema = json!({"type": "object", "required": ["code", "zh", "en"], "additionalProperties": false, "properties": {
        "code": {"type": "string"}, "zh": {"type": "string"}, "en": {"type": "string"}}});
    let workflow_schema = json!({"type": "object", "required": ["stages", "actions", "roles", "indicators"], "additionalProperties": false, "properties": {
        "stages": {"type": "array", "items": {"type": "object", "required": ["code", "zh", "en", "terminal", "with_department"], "additionalProperties": false, "properties": {
            "code": {"type": "string"}, "zh": {"type": "string"}, "en": {"type": "string"},
            "terminal": {"type": "boolean"}, "with_department": {"type": "boolean"}}}},
        "actions": {"type": "array", "items": schema("Term")},
        "roles": {"type": "array", "items": schema("Term")},
        "indicators": {"type": "array", "items": {"type": "object", "required": ["key", "zh", "en", "rate"], "additionalProperties": false, "properties": {
            "key": {"type": "string"}, "zh": {"type": "string"}, "en": {"type": "string"}, "rate": {"type": "boolean"}}}}}});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "GridPatrol sync server (网格巡查同步服务器)",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Device sync and photo upload for grid workers' PDAs; the dispatch pool and the closed loop for desks (dispatchers, supervisors, departments). Errors are JSON {code, message}, messages in English with Chinese."
        },
        "paths": {
            "/healthz": {"get": {
                "summary": "Health. Without a token only `{\"status\": \"ok\"}`; with a desk token also the version, the case count, the server's clock and the notices",
                "security": [{}, {"deskToken": []}],
                "responses": {
                    "200": {"description": "OK (the details only for a desk token)", "content": {"application/json": {"schema": {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}, "version": {"type": "string"}, "cases": {"type": "integer"}, "server_time": {"type": "string", "format": "date-time"}, "notices": {"type": "array", "items": schema("Notice")}}}}}},
                    "401": error_responses(&["401"])["401"],
                    "403": {"description": "A device token (code `desk_only`; 此接口仅供坐席使用)", "content": {"application/json": {"schema": schema("Error")}}}
                }
            }},
            "/api/v1/workflow": {"get": {
                "summary": "The workflow's stages (in the loop's order), actions and roles, and the assessment's indicators, each with its Chinese and English label as the core names them",
                "security": desk.clone(),
                "responses": ok_json(schema("Workflow"), &["401", "403"])
            }},
            "/api/v1/notices": {"get": {
                "summary": "What needs the command centre's attention, e.g. `calendar_holidays_missing` when the work calendar lacks the holidays of a year deadlines will reach within 45 days",
                "security": desk.clone(),
                "responses": ok_json(json!({"type": "array", "items": schema("Notice")}), &["401", "403"])
            }},
            "/metrics": {"get": {
                "summary": "Prometheus metrics: responses, connections, sync documents in/out, pool size, overdue count (desk token; in Prometheus `authorization: {credentials: gpk_…}`)",
                "security": desk.clone(),
                "responses": {
                    "200": {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}},
                    "401": error_responses(&["401"])["401"],
                    "403": {"description": "A device token (code `desk_only`; 此接口仅供坐席使用)", "content": {"application/json": {"schema": schema("Error")}}}
                }
            }},
            "/api/v1/openapi.json": {"get": {
                "summary": "This document (no auth)",
                "security": [],
                "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}}
            }},
            "/api/v1/devices/enroll": {"post": {
                "summary": "Bind a device id to a device token (idempotent for the same id)",
                "security": device,
                "requestBody": {"required": true, "content": {"application/json": {"schema": schema("EnrollRequest")}}},
                "responses": ok_json(schema("Enrolled"), &["400", "401", "403", "409"])
            }},
            "/sync/v1": {"post": {
                "summary": "One batched sync round trip: SyncRequest bytes in, SyncResponse bytes out (core's wire format: GPSY, u16 version, postcard)",
                "security": device,
                "requestBody": {"required": true, "content": {"application/octet-stream": {"schema": {"type": "string", "contentMediaType": "application/octet-stream", "maxLength": gridpatrol_core::sync::wire::MAX_MESSAGE_BYTES}}}},
                "responses": {
                    "200": {"description": "SyncResponse bytes", "headers": {"gridpatrol-catalog-version": catalog_version.clone(), "gridpatrol-grids-version": grids_version.clone()}, "content": {"application/octet-stream": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}},
                    "400": {"description": "Undecodable message (code `wire`, a version mismatch says so) or malformed changes (code `malformed`)", "content": {"application/json": {"schema": schema("Error")}}},
                    "401": error_responses(&["401"])["401"],
                    "403": {"description": "Refused (code `sync_refused`: a change outside the device's scope, by another actor, or not a grid worker's; `not_enrolled`); nothing of the request was kept", "content": {"application/json": {"schema": schema("Error")}}},
                    "413": error_responses(&["413"])["413"]
                }
            }},
            "/api/v1/blobs/status": {"post": {
                "summary": "What the server holds of each photo",
                "security": either,
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["sha256"], "additionalProperties": false, "properties": {"sha256": {"type": "array", "maxItems": 1000, "items": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"}}}}}}},
                "responses": ok_json(json!({"type": "object", "additionalProperties": schema("BlobStatus")}), &["400", "401"])
            }},
            "/api/v1/blobs/{sha256}": {
                "put": {
                    "summary": "Upload (resume) a photo, devices only: the bytes from `offset`; every chunk declares the same `total`; a new upload must fit the device's quota of unfinished uploads (`--upload-quota-mib`), which expire after `--upload-expiry-hours` without a chunk; verified against the sha256 and checked to be a whole JPEG or PNG (at most 4096x4096 pixels) when complete; a complete blob is a no-op",
                    "security": device,
                    "parameters": [sha,
                        {"name": "offset", "in": "query", "required": true, "schema": {"type": "integer", "minimum": 0}},
                        {"name": "total", "in": "query", "required": true, "schema": {"type": "integer", "minimum": 1, "maximum": crate::blobs::MAX_BLOB_BYTES}}],
                    "requestBody": {"required": true, "content": {"application/octet-stream": {"schema": {"type": "string", "contentMediaType": "application/octet-stream", "maxLength": crate::blobs::MAX_CHUNK_BYTES}}}},
                    "responses": {
                        "200": {"description": "Held so far", "content": {"application/json": {"schema": schema("BlobStatus")}}},
                        "400": error_responses(&["400"])["400"],
                        "401": error_responses(&["401"])["401"],
                        "403": {"description": "A desk token (code `device_only`)", "content": {"application/json": {"schema": schema("Error")}}},
                        "409": {"description": "The offset is not what the server holds (code `offset_mismatch`, with `held`), or the upload was started with another total (code `total_mismatch`)", "content": {"application/json": {"schema": schema("Error")}}},
                        "413": error_responses(&["413"])["413"],
                        "422": {"description": "The bytes do not hash to the sha256 (code `sha256_mismatch`), or are not a whole JPEG or PNG within the pixel cap (code `not_an_image`); the partial upload was discarded", "content": {"application/json": {"schema": schema("Error")}}},
                        "429": {"description": "Starting this upload would take the device's unfinished uploads past its quota (code `upload_quota`); nothing was written", "content": {"application/json": {"schema": schema("Error")}}}
                    }
                },
                "get": {
                    "summary": "A complete photo",
                    "security": either,
                    "parameters": [sha],
                    "responses": {
                        "200": {"description": "The photo", "content": {"image/jpeg": {"schema": {"type": "string", "contentMediaType": "image/jpeg"}}}},
                        "400": error_responses(&["400"])["400"],
                        "401": error_responses(&["401"])["401"],
                        "404": error_responses(&["404"])["404"]
                    }
                }
            },
            "/api/v1/cases": {"get": {
                "summary": "Cases in the desk's scope, newest first unless `order` says otherwise (from the case index; department desks see their department's cases). `total` counts every case matching all the filters, deadline states included",
                "security": desk,
                "parameters": [
                    {"name": "stage", "in": "query", "description": "A stage, or several separated by commas (any of them)", "style": "form", "explode": false, "schema": {"type": "array", "items": {"type": "string", "enum": stages}}},
                    {"name": "cell", "in": "query", "description": "A cell code or prefix", "schema": {"type": "string"}},
                    {"name": "department", "in": "query", "schema": {"type": "string"}},
                    {"name": "overdue", "in": "query", "schema": {"type": "boolean"}},
                    {"name": "deadline_state", "in": "query", "description": "Only cases in one of these deadline states (several separated by commas), measured as supervision measures them: on the route's clock (working hours on the work calendar, or continuous), approaching when at most the warning share of the allowed time is left. 400 `bad_deadline_state` for another value", "style": "form", "explode": false, "schema": {"type": "array", "items": {"type": "string", "enum": deadline_states}}},
                    {"name": "order", "in": "query", "description": "newest: newest report first; oldest: oldest report first (a queue); deadline: earliest deadline first, cases without one last (supervision). 400 `bad_order` for another value", "schema": {"type": "string", "enum": orders, "default": "newest"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": super::desk::MAX_PAGE, "default": super::desk::DEFAULT_PAGE}},
                    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": u32::MAX, "default": 0}}
                ],
                "responses": ok_json(schema("CasePage"), &["400", "401", "403"])
            }},
            "/api/v1/cases/{id}": {"get": {
                "summary": "One case: the core's case (details, photos, timeline with outcomes), its route, deadline state and the actions this desk may take now",
                "security": desk,
                "parameters": [case_id],
                "responses": ok_json(schema("CaseView"), &["400", "401", "403", "404"])
            }},
            "/api/v1/cases/{id}/actions": {"post": {
                "summary": "Take an action on a case (recorded in the case document as the server's actor, naming the desk)",
                "security": desk,
                "parameters": [case_id],
                "requestBody": {"required": true, "content": {"application/json": {"schema": schema("ActionRequest")}}},
                "responses": ok_json(schema("CaseView"), &["400", "401", "403", "404", "409", "422"])
            }},
            "/api/v1/stats": {"get": {
                "summary": "Assessment indicators (考核指标) over a period for the cases in the desk's scope",
                "security": desk,
                "parameters": [
                    {"name": "group_by", "in": "query", "schema": {"type": "string", "enum": ["department", "cell", "street", "worker"], "default": "department"}},
                    {"name": "from", "in": "query", "description": "RFC 3339 or YYYY-MM-DD (local midnight); default: the first of this month", "schema": instant.clone()},
                    {"name": "to", "in": "query", "description": "RFC 3339 or YYYY-MM-DD; default: now", "schema": instant.clone()}
                ],
                "responses": ok_json(schema("Stats"), &["400", "401", "403"])
            }},
            "/api/v1/supervision/run": {"post": {
                "summary": "Run a supervision pass now (supervisors): remind approaching/overdue cases once per state, escalate, close verified cases",
                "security": desk,
                "responses": ok_json(schema("SupervisionReport"), &["401", "403"])
            }},
            "/api/v1/audit": {"get": {
                "summary": "The audit log, newest first (supervisors): refusals and desk actions",
                "security": desk,
                "parameters": [
                    {"name": "case", "in": "query", "schema": {"type": "string", "format": "uuid"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}}
                ],
                "responses": ok_json(json!({"type": "array", "items": schema("AuditEntry")}), &["400", "401", "403"])
            }},
            "/api/v1/grids": {"get": {
                "summary": "The grid cells in the caller's scope (GeoJSON FeatureCollection)",
                "security": either,
                "responses": {
                    "200": {"description": "GeoJSON", "headers": {"gridpatrol-grids-version": grids_version.clone()}, "content": {"application/geo+json": {"schema": {"type": "object"}}}},
                    "401": error_responses(&["401"])["401"]
                }
            }},
            "/api/v1/catalog": {"get": {
                "summary": "The category catalogue in force, as JSON rows or (format=csv) as the catalogue file devices import",
                "security": either,
                "parameters": [{"name": "format", "in": "query", "schema": {"type": "string", "enum": ["json", "csv"], "default": "json"}}],
                "responses": {
                    "200": {"description": "The catalogue", "headers": {"gridpatrol-catalog-version": catalog_version.clone()}, "content": {
                        "application/json": {"schema": {"type": "array", "items": schema("Category")}},
                        "text/csv": {"schema": {"type": "string"}}
                    }},
                    "400": error_responses(&["400"])["400"],
                    "401": error_responses(&["401"])["401"]
                }
            }}
        },
        "components": {
            "securitySchemes": {
                "deviceToken": {"type": "http", "scheme": "bearer", "description": "A device token gpd_<64 hex>, from `admin device add`"},
                "deskToken": {"type": "http", "scheme": "bearer", "description": "A desk token gpk_<64 hex>, from `admin desk add`"}
            },
            "schemas": {
                "Error": {"type": "object", "required": ["code", "message"], "properties": {
                    "code": {"type": "string"}, "message": {"type": "string"},
                    "held": {"type": "integer", "description": "offset_mismatch only: bytes held"}}},
                "Notice": {"type": "object", "required": ["code", "severity", "message_zh", "message_en"], "properties": {
                    "code": {"type": "string", "enum": ["calendar_holidays_missing"]}, "severity": {"type": "string", "enum": ["warning"]},
                    "message_zh": {"type": "string"}, "message_en": {"type": "string"},
                    "years": {"type": "array", "items": {"type": "integer"}}}},
                "Term": term_schema,
                "Workflow": workflow_schema,
                "EnrollRequest": {"type": "object", "required": ["device_id"], "additionalProperties": false, "properties": {"device_id": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,100}$"}}},
                "Enrolled": {"type": "object", "properties": {
                    "worker_id": {"type": "string"}, "device_id": {"type": "string"},
                    "cells": {"type": "array", "items": {"type": "string"}},
                    "server_time": {"type": "string", "format": "date-time"}}},
                "BlobStatus": {"type": "object", "properties": {"held": {"type": "integer"}, "complete": {"type": "boolean"}}},
                "CategoryKey": {"type": "object", "properties": {"standard": {"type": "string"}, "code": {"type": "string"}}},
                "CaseRow": {"type": "object", "properties": {
                    "id": {"type": "string", "format": "uuid"}, "cursor": {"type": "integer"},
                    "cell": {"type": ["string", "null"]}, "stage": {"type": "string", "enum": stages}, "stage_zh": {"type": "string"},
                    "category": schema("CategoryKey"), "department": {"type": ["string", "null"]},
                    "deadline": {"type": ["string", "null"], "format": "date-time"},
                    "dispatched_at": {"type": ["string", "null"], "format": "date-time"},
                    "overdue": {"type": "boolean"}, "escalated": {"type": "boolean"},
                    "reporter": {"type": "string"}, "device": {"type": "string"}, "verifier": {"type": ["string", "null"]},
                    "address": {"type": "string"}, "summary": {"type": "string"},
                    "lat": {"type": "number"}, "lon": {"type": "number"}, "photos": {"type": "integer"},
                    "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"},
                    "deadline_state": {"type": "string", "enum": deadline_states}}},
                "CasePage": {"type": "object", "properties": {
                    "items": {"type": "array", "items": schema("CaseRow")},
                    "total": {"type": "integer", "description": "Every case matching the filters, not only this page's"},
                    "limit": {"type": "integer"}, "offset": {"type": "integer"}}},
                "Route": {"type": "object", "properties": {
                    "department": {"type": ["string", "null"]}, "deadline": {"type": ["string", "null"], "format": "date-time"},
                    "hours": {"type": ["number", "null"]}, "clock": {"type": ["string", "null"], "enum": ["WH", "CH", null]},
                    "because": {"type": "string"}}},
                "CaseView": {"type": "object", "description": "The core's Case (id, reporter, device, cell, location, created_at, details, photos, timeline {entries [{event, outcome}], stage, department, deadline, dispatched_at, verifier, latest}) plus:", "properties": {
                    "id": {"type": "string", "format": "uuid"}, "reporter": {"type": "string"}, "device": {"type": "string"},
                    "cell": {"type": ["string", "null"]}, "location": {"type": "object"}, "created_at": {"type": "string", "format": "date-time"},
                    "details": {"type": "object"}, "photos": {"type": "array", "items": {"type": "object"}}, "timeline": {"type": "object"},
                    "stage": {"type": ["string", "null"], "enum": stages.iter().map(|s| json!(s)).chain([Value::Null]).collect::<Vec<_>>()},
                    "stage_zh": {"type": ["string", "null"]},
                    "route": {"oneOf": [schema("Route"), {"type": "null"}]},
                    "pool_entered_at": {"type": ["string", "null"], "format": "date-time"},
                    "deadline_state": {"type": "string", "enum": deadline_states},
                    "escalated": {"type": "boolean"},
                    "actions": {"type": "array", "items": {"type": "string", "enum": actions}}}},
                "ActionRequest": {"type": "object", "required": ["action"], "additionalProperties": false, "properties": {
                    "action": {"type": "string", "enum": actions},
                    "note": {"type": "string", "maxLength": 2000},
                    "department": {"type": "string", "description": "dispatch: default the route's department"},
                    "deadline": {"type": "string", "format": "date-time", "description": "dispatch or extend (RFC 3339)"},
                    "hours": {"type": "number", "description": "dispatch or extend: hours on the case's clock (working hours or continuous)"},
                    "assignee": {"type": "string", "description": "request_verification: default the reporter, or the cell's current worker"}}},
                "Stats": {"type": "object", "properties": {
                    "group_by": {"type": "string"}, "from": {"type": "string", "format": "date-time"}, "to": {"type": "string", "format": "date-time"},
                    "cases": {"type": "integer"},
                    "groups": {"type": "object", "additionalProperties": {"type": "object", "description": "core indicators::Indicators: counts and rates"}},
                    "total": {"type": "object"}}},
                "SupervisionReport": {"type": "object", "properties": {
                    "checked": {"type": "integer"}, "reminded": {"type": "integer"}, "escalated": {"type": "integer"}, "closed": {"type": "integer"}}},
                "AuditEntry": {"type": "object", "properties": {
                    "at_ms": {"type": "integer"}, "principal": {"type": "string"}, "action": {"type": "string"},
                    "case_id": {"type": ["string", "null"]}, "reason": {"type": ["string", "null"]}}},
                "Category": {"type": "object", "properties": {
                    "key": schema("CategoryKey"), "legacy_code": {"type": ["string", "null"]}, "kind": {"type": "string"},
                    "major_class": {"type": "string"}, "minor_class": {"type": "string"}, "default_department": {"type": "string"},
                    "deadline_hours": {"type": "number"}, "clock": {"type": "string", "enum": ["WH", "CH"]}, "note": {"type": ["string", "null"]}}}
            }
        }
    })
}

/// The API's document, with the dashboard's endpoints (`super::live`).
pub fn document() -> Value {
    let mut doc = api_document();
    super::live::document(&mut doc);
    doc
}

pub async fn serve() -> Json<Value> {
    Json(document())
}

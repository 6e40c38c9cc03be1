//! The supervisor dashboard's static files (`dashboard/dist`, built by `npm run build`), embedded into the
//! binary at compile time and served at `/`. A build without them serves a page that says how to build them.

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use rust_embed::Embed;

use super::AppState;

#[derive(Embed)]
#[folder = "../dashboard/dist/"]
#[allow_missing = true]
struct Assets;

const NOT_BUILT: &str = r#"<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>GridPatrol</title>
<body style="font-family:sans-serif;max-width:40em;margin:4em auto;line-height:1.6">
<h1>指挥中心页面尚未构建 · The dashboard is not built</h1>
<p>本服务器编译时没有找到 <code>dashboard/dist</code>。请先构建前端，再重新编译服务器：</p>
<p>This server was compiled without <code>dashboard/dist</code>. Build the dashboard, then rebuild the server:</p>
<pre>cd dashboard &amp;&amp; npm ci &amp;&amp; npm run build
cargo build -p gridpatrol-server</pre>
<p>The API is served as usual: <a href="/api/v1/openapi.json">/api/v1/openapi.json</a>.</p>
</body></html>"#;

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "json" => "application/json",
        "woff2" => "font/woff2",
        "ico" => "image/x-icon",
        _ => "application/octet-stream",
    }
}

fn file(path: &str) -> Option<Response> {
    let found = Assets::get(path)?;
    // Vite names assets by content hash: they never change under the same name.
    let cache = if path.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    Some(
        (
            [(CONTENT_TYPE, content_type(path)), (CACHE_CONTROL, cache)],
            found.data.into_owned(),
        )
            .into_response(),
    )
}

async fn index() -> Response {
    file("index.html").unwrap_or_else(|| (StatusCode::OK, Html(NOT_BUILT)).into_response())
}

async fn asset(Path(path): Path<String>) -> Response {
    file(&format!("assets/{path}")).unwrap_or_else(|| {
        crate::error::ServerError::NotFound(format!("no dashboard file assets/{path} (文件不存在)"))
            .into_response()
    })
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/index.html", get(index))
        .route("/assets/{*path}", get(asset))
}

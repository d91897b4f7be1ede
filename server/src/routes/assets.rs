//! What browsers load: the loader script at `/touchstone.js`, the built widget under a
//! content-hashed path, the marketers' dashboard (`www/dashboard/`) at `/dashboard/` under a
//! strict Content-Security-Policy, and the other static pages in `www/` (the demo shop) at `/`.
//!
//! The loader is cached briefly, so a new widget reaches visitors within minutes; the widget's
//! files are immutable under their hash, so browsers keep them for a year and never see a mix of
//! old glue and new wasm. The widget is two modules, each a glue script and its wasm: the core,
//! which the loader fetches on every page, and the survey UI, which it fetches only when a
//! survey is about to be shown; one hash covers all four files. All of them go out brotli- or
//! gzip-compressed to browsers that accept it (`crate::encoded`).

use crate::encoded::Encoded;
use crate::error::{ApiError, ErrorBody};
use actix_files::Files;
use actix_web::dev::{ServiceRequest, ServiceResponse, fn_service};
use actix_web::http::header;
use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The token in `www/loader.js` replaced by the widget's content-hashed path.
const WIDGET_BASE_TOKEN: &str = "__TOUCHSTONE_WIDGET_BASE__";
/// The built widget's files (as `cargo xtask build-widget` writes them) and their content types:
/// the core's glue and wasm, then the survey module's.
const WIDGET_FILES: [(&str, &str); 4] = [
    ("touchstone_widget.js", JAVASCRIPT),
    ("touchstone_widget_bg.wasm", WASM),
    ("touchstone_survey.js", JAVASCRIPT),
    ("touchstone_survey_bg.wasm", WASM),
];
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const WASM: &str = "application/wasm";
const LOADER_FILE: &str = "loader.js";
/// The dashboard's folder in `www/`, served at `/dashboard/`.
const DASHBOARD_DIR: &str = "dashboard";
/// The dashboard loads its own scripts and styles and talks to its own origin, nothing else: no
/// inline script or style, no other origin, no frames, no plugins.
const DASHBOARD_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'; object-src 'none'";

/// Why the web assets could not be loaded at start-up.
#[derive(Debug, thiserror::Error)]
pub enum AssetError {
    /// The `www` folder or its loader is missing or unreadable.
    #[error("reading {path} (start the collector from the repository root, or pass --www-dir)")]
    Www {
        /// The file that could not be read.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The loader, the widget and where the static pages live, read once at start-up.
#[derive(Debug, Clone)]
pub struct Assets {
    www_dir: PathBuf,
    widget: Option<Arc<Widget>>,
}

#[derive(Debug)]
struct Widget {
    /// The first 16 hex digits of the SHA-256 of all of [`WIDGET_FILES`] together.
    hash: String,
    loader: Encoded,
    /// [`WIDGET_FILES`], in their order.
    files: Vec<Encoded>,
}

impl Assets {
    /// Reads `www_dir/loader.js` and the built widget in `widget_dir`. A missing widget is not an
    /// error: the collector still collects and reports, and `/touchstone.js` says how to build it.
    pub fn load(www_dir: &Path, widget_dir: &Path) -> Result<Self, AssetError> {
        let loader_path = www_dir.join(LOADER_FILE);
        let loader_template =
            std::fs::read_to_string(&loader_path).map_err(|source| AssetError::Www {
                path: loader_path,
                source,
            })?;
        let files: Result<Vec<Encoded>, _> = WIDGET_FILES
            .iter()
            .map(|(file, _)| Encoded::read(&widget_dir.join(file)))
            .collect();
        let widget = match files {
            Ok(files) => Some(Arc::new(Widget::new(&loader_template, files))),
            Err(_) => {
                tracing::warn!(dir = %widget_dir.display(), "no built widget found; run `cargo xtask build-widget`");
                None
            }
        };
        Ok(Assets {
            www_dir: www_dir.to_path_buf(),
            widget,
        })
    }

    /// The path the widget's files are served under, e.g. `/widget/3f2a9c0d1e4b5a6c`, if built.
    pub fn widget_base(&self) -> Option<String> {
        self.widget.as_ref().map(|widget| widget.base())
    }
}

impl Widget {
    fn new(loader_template: &str, files: Vec<Encoded>) -> Self {
        let digest = files
            .iter()
            .fold(Sha256::new(), |hasher, file| hasher.chain_update(&file.raw))
            .finalize();
        let hash = hex::encode(&digest[..8]);
        let loader =
            compact(loader_template).replace(WIDGET_BASE_TOKEN, &format!("/widget/{hash}"));
        Widget {
            hash,
            loader: Encoded::compress(loader.into_bytes()),
            files,
        }
    }

    fn base(&self) -> String {
        format!("/widget/{}", self.hash)
    }
}

/// The loader as served: without comment lines, indentation and blank lines. It goes to every
/// visitor of every page, so its comments are for the repository only (measured: about 1.2 KB
/// brotli with them, under 1 KB without).
fn compact(loader: &str) -> String {
    loader
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Registers the loader, the widget files and, last, the static pages at `/`.
pub fn configure(cfg: &mut web::ServiceConfig, assets: &Assets) {
    cfg.app_data(web::Data::new(assets.clone()))
        .route("/touchstone.js", web::get().to(loader))
        .route("/widget/{hash}/{file}", web::get().to(widget_file))
        // Before the scope, which would otherwise take `/dashboard` too.
        .route("/dashboard", web::get().to(dashboard_slash))
        .service(
            web::scope("/dashboard")
                .wrap(
                    DefaultHeaders::new()
                        .add((header::CONTENT_SECURITY_POLICY, DASHBOARD_CSP))
                        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                        .add((header::REFERRER_POLICY, "no-referrer"))
                        // Revalidated on every load, so a new collector's dashboard shows at once.
                        .add((header::CACHE_CONTROL, "no-cache")),
                )
                .service(static_files("/", &assets.www_dir.join(DASHBOARD_DIR))),
        )
        .service(
            static_files("/", &assets.www_dir)
                // The loader template is served, filled in, at /touchstone.js only.
                .path_filter(|path, _| path != Path::new(LOADER_FILE)),
        );
}

/// The files under `dir` at `mount`, `index.html` for folders, and a JSON `404 not_found` for
/// the rest.
fn static_files(mount: &str, dir: &Path) -> Files {
    Files::new(mount, dir)
        .index_file("index.html")
        .redirect_to_slash_directory()
        .default_handler(fn_service(|request: ServiceRequest| async {
            let (request, _) = request.into_parts();
            Ok(ServiceResponse::new(
                request,
                ApiError::NotFound.error_response(),
            ))
        }))
}

/// `/dashboard` without its slash: redirected, so the page's relative links resolve in its
/// folder. The `Location` is relative too, so a collector behind a path prefix still works.
async fn dashboard_slash() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "dashboard/"))
        .finish()
}

/// The loader script
///
/// What a website embeds with `<script src=".../touchstone.js" data-site="…">`. Cached for five
/// minutes, so a new widget reaches visitors soon.
#[utoipa::path(
    get,
    path = "/touchstone.js",
    tag = "assets",
    responses(
        (status = 200, description = "The loader; brotli- or gzip-compressed \
            (`Content-Encoding`) when `Accept-Encoding` allows.", body = String,
            content_type = "text/javascript"),
        (status = 503, body = ErrorBody, description = "`widget_not_built`: the collector was \
            started without a built widget."),
    ),
)]
async fn loader(assets: web::Data<Assets>, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let widget = assets.widget.as_ref().ok_or(ApiError::WidgetNotBuilt)?;
    Ok(widget.loader.respond(&request, JAVASCRIPT, |response| {
        response.insert_header((header::CACHE_CONTROL, "public, max-age=300"));
    }))
}

/// A file of the built widget
///
/// Immutable under its content hash, cached for a year; the loader names the current hash. The
/// files are the core's `touchstone_widget.js` and `touchstone_widget_bg.wasm`, loaded on every
/// page, and the survey UI's `touchstone_survey.js` and `touchstone_survey_bg.wasm`, loaded when
/// a survey is about to be shown.
#[utoipa::path(
    get,
    path = "/widget/{hash}/{file}",
    tag = "assets",
    params(
        ("hash" = String, Path, pattern = "^[0-9a-f]{16}$",
            description = "The first 16 hex digits of the SHA-256 of the widget's files."),
        ("file" = String, Path, description = "The file.", example = "touchstone_widget.js"),
    ),
    responses(
        (status = 200, description = "The JavaScript glue or the WebAssembly; brotli- or \
            gzip-compressed (`Content-Encoding`) when `Accept-Encoding` allows and the build \
            wrote the compressed files.", content(
            ("text/javascript"),
            ("application/wasm"),
        )),
        (status = 307, description = "Another (older) hash: the same file under the current \
            hash, never cached, so a page that kept a loader from before the widget changed still \
            gets a glue and a wasm that belong together."),
        (status = 404, body = ErrorBody, description = "`not_found`: no such file."),
    ),
)]
async fn widget_file(
    assets: web::Data<Assets>,
    path: web::Path<(String, String)>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (hash, file) = path.into_inner();
    let widget = assets.widget.as_ref().ok_or(ApiError::NotFound)?;
    let (content_type, encoded) = WIDGET_FILES
        .iter()
        .zip(&widget.files)
        .find(|((name, _), _)| *name == file)
        .map(|((_, content_type), encoded)| (*content_type, encoded))
        .ok_or(ApiError::NotFound)?;
    if hash != widget.hash {
        if !is_widget_hash(&hash) {
            return Err(ApiError::NotFound);
        }
        // Browsers keep the loader for five minutes, so after the widget changes some pages still
        // name the old hash. They get the current files: both through this redirect, so the glue
        // and the wasm belong together. Relative, so a path prefix in front of the collector works.
        return Ok(HttpResponse::TemporaryRedirect()
            .insert_header((header::LOCATION, format!("../{}/{file}", widget.hash)))
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
            .finish());
    }
    Ok(encoded.respond(&request, content_type, |response| {
        response
            .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
            // Host pages on any origin import the glue as a module and fetch the wasm: both are
            // CORS requests.
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"));
    }))
}

/// Whether `hash` has the form of [`Widget::hash`]: 16 lowercase hex digits.
fn is_widget_hash(hash: &str) -> bool {
    hash.len() == 16
        && hash
            .bytes()
            .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_served_loader_has_no_comment_lines_or_indentation() {
        let template =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../www/loader.js"))
                .unwrap();
        let served = compact(&template);
        assert!(served.contains(WIDGET_BASE_TOKEN));
        assert!(
            served
                .lines()
                .all(|line| !line.starts_with("//") && line == line.trim())
        );
        assert!(served.len() < template.len());
    }
}

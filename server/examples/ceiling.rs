//! The ceiling for `cargo xtask bench`: a bare actix-web server that answers `POST /v1/collect`
//! with a tiny JSON body and does no other work.
//!
//! It runs with actix-web's default worker count, as the collector does, so the collector's
//! throughput can be read as a share of what actix-web itself manages on the same machine under
//! the same load generator. Usage: `ceiling [ADDRESS]` (default `127.0.0.1:0`); it prints
//! `ceiling: listening on http://ADDRESS` on standard output once bound.

use actix_web::{App, HttpResponse, HttpServer, web};
use std::net::TcpListener;

/// What the collector answers for a stored single-event batch.
const RECEIPT: &str = r#"{"accepted":1,"duplicates":0,"ignored":0}"#;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let listener = TcpListener::bind(&address)?;
    println!("ceiling: listening on http://{}", listener.local_addr()?);
    HttpServer::new(|| {
        App::new().route(
            "/v1/collect",
            // Reading the body, as the collector must, is the only work done.
            web::post().to(|_body: web::Bytes| async {
                HttpResponse::Ok()
                    .content_type("application/json")
                    .body(RECEIPT)
            }),
        )
    })
    .listen(listener)?
    .run()
    .await
}

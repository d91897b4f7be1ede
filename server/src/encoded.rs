//! Files sent compressed: each kept raw and, where the collector has them, as brotli and gzip, and
//! sent in the form the browser's `Accept-Encoding` prefers (brotli on a tie). The widget's
//! files are compressed once at build time (`cargo xtask build-widget` writes `FILE.br` and
//! `FILE.gz` beside each), at brotli's best quality, which is too slow to spend on each request.

use actix_web::HttpRequest;
use actix_web::http::header::{self, AcceptEncoding, ContentEncoding, Encoding, Header};
use actix_web::web::Bytes;
use actix_web::{HttpResponse, HttpResponseBuilder};
use std::io::{Read, Write};
use std::path::Path;

/// A file and the compressed forms of it the collector can send instead.
#[derive(Debug)]
pub struct Encoded {
    /// The file itself.
    pub raw: Bytes,
    brotli: Option<Bytes>,
    gzip: Option<Bytes>,
}

impl Encoded {
    /// `raw` compressed here, at the best quality of each encoding: for small files made at
    /// start-up (the loader, about 3 KB, takes milliseconds).
    pub fn compress(raw: Vec<u8>) -> Self {
        let brotli = brotli_best(&raw);
        let gzip = gzip_best(&raw);
        Encoded {
            raw: raw.into(),
            brotli: Some(brotli.into()),
            gzip: Some(gzip.into()),
        }
    }

    /// The file at `path`, with the `.br` and `.gz` files beside it when they hold the same
    /// bytes compressed. One that does not (left from an older build, say) is not used: the
    /// browser gets the file uncompressed rather than the wrong file.
    pub fn read(path: &Path) -> std::io::Result<Self> {
        let raw = std::fs::read(path)?;
        let beside = |extension: &str, decompress: fn(&[u8]) -> Option<Vec<u8>>| {
            let mut name = path.as_os_str().to_owned();
            name.push(extension);
            let compressed = std::fs::read(&name).ok()?;
            if decompress(&compressed).as_deref() == Some(raw.as_slice()) {
                Some(Bytes::from(compressed))
            } else {
                tracing::warn!(file = %Path::new(&name).display(), "not sent: it is not the file beside it compressed (rebuild with `cargo xtask build-widget`)");
                None
            }
        };
        Ok(Encoded {
            brotli: beside(".br", brotli_decompress),
            gzip: beside(".gz", gzip_decompress),
            raw: raw.into(),
        })
    }

    /// A `200` of `content_type` in the form `request` accepts best, with `Vary` saying the
    /// form depends on `Accept-Encoding`. `headers` adds the caller's own headers.
    pub fn respond(
        &self,
        request: &HttpRequest,
        content_type: &str,
        headers: impl FnOnce(&mut HttpResponseBuilder),
    ) -> HttpResponse {
        let mut offered = vec![Encoding::identity()];
        if self.brotli.is_some() {
            offered.push(Encoding::brotli());
        }
        if self.gzip.is_some() {
            offered.push(Encoding::gzip());
        }
        // A header that does not parse, or that refuses everything, gets the file as it is.
        let chosen = AcceptEncoding::parse(request)
            .ok()
            .and_then(|accepted| accepted.negotiate(offered.iter()));
        let (encoding, body) = match (chosen, &self.brotli, &self.gzip) {
            (Some(Encoding::Known(ContentEncoding::Brotli)), Some(brotli), _) => {
                (Some("br"), brotli)
            }
            (Some(Encoding::Known(ContentEncoding::Gzip)), _, Some(gzip)) => (Some("gzip"), gzip),
            _ => (None, &self.raw),
        };
        let mut response = HttpResponse::Ok();
        response
            .content_type(content_type)
            .insert_header((header::VARY, "Accept-Encoding"));
        if let Some(encoding) = encoding {
            response.insert_header((header::CONTENT_ENCODING, encoding));
        }
        headers(&mut response);
        response.body(body.clone())
    }
}

/// `bytes` compressed with brotli at quality 11 and a 4 MiB window, as `brotli -q 11` does.
fn brotli_best(bytes: &[u8]) -> Vec<u8> {
    let mut compressed = Vec::new();
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: 22,
        ..Default::default()
    };
    brotli::BrotliCompress(&mut &bytes[..], &mut compressed, &params)
        .expect("compressing into memory cannot fail");
    compressed
}

/// `bytes` compressed with gzip at level 9.
fn gzip_best(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder
        .write_all(bytes)
        .and_then(|()| encoder.finish())
        .expect("compressing into memory cannot fail")
}

fn brotli_decompress(compressed: &[u8]) -> Option<Vec<u8>> {
    let mut raw = Vec::new();
    brotli::BrotliDecompress(&mut &compressed[..], &mut raw).ok()?;
    Some(raw)
}

fn gzip_decompress(compressed: &[u8]) -> Option<Vec<u8>> {
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(compressed)
        .read_to_end(&mut raw)
        .ok()?;
    Some(raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn sent(encoded: &Encoded, accept: Option<&str>) -> (Option<String>, Vec<u8>) {
        let mut request = TestRequest::default();
        if let Some(accept) = accept {
            request = request.insert_header((header::ACCEPT_ENCODING, accept));
        }
        let response = encoded.respond(&request.to_http_request(), "text/plain", |_| {});
        assert_eq!(
            response.headers().get(header::VARY).unwrap(),
            "Accept-Encoding"
        );
        let encoding = response
            .headers()
            .get(header::CONTENT_ENCODING)
            .map(|value| value.to_str().unwrap().to_owned());
        let body = actix_web::body::to_bytes(response.into_body());
        let body = futures_util::FutureExt::now_or_never(body)
            .unwrap()
            .unwrap();
        (encoding, body.to_vec())
    }

    #[test]
    fn each_browser_gets_the_form_it_prefers() {
        let raw = b"touchstone('show'); ".repeat(50);
        let encoded = Encoded::compress(raw.clone());
        for (accept, expected) in [
            (None, None),
            (Some("gzip, deflate, br, zstd"), Some("br")),
            (Some("gzip, deflate"), Some("gzip")),
            (Some("br;q=0.5, gzip"), Some("gzip")),
            (Some("br;q=0, gzip;q=0"), None),
            (Some("identity"), None),
            (Some("*"), None),
            (Some("zstd"), None),
            (Some("br;q=x"), None),
        ] {
            let (encoding, body) = sent(&encoded, accept);
            assert_eq!(encoding.as_deref(), expected, "{accept:?}");
            let decoded = match expected {
                Some("br") => brotli_decompress(&body).unwrap(),
                Some(_) => gzip_decompress(&body).unwrap(),
                None => body,
            };
            assert_eq!(decoded, raw, "{accept:?}");
        }
    }

    #[test]
    fn compressed_files_beside_a_file_are_used_only_when_they_hold_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("module.wasm");
        std::fs::write(&path, b"the new module").unwrap();
        let encoded = Encoded::read(&path).unwrap();
        assert!(encoded.brotli.is_none() && encoded.gzip.is_none());

        std::fs::write(
            dir.path().join("module.wasm.br"),
            brotli_best(b"the new module"),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("module.wasm.gz"),
            gzip_best(b"the old module"),
        )
        .unwrap();
        let encoded = Encoded::read(&path).unwrap();
        assert!(encoded.brotli.is_some(), "the matching brotli file is used");
        assert!(encoded.gzip.is_none(), "a stale gzip file is not");
        assert_eq!(sent(&encoded, Some("gzip")).0, None);
        std::fs::write(dir.path().join("module.wasm.br"), b"not brotli at all").unwrap();
        assert!(Encoded::read(&path).unwrap().brotli.is_none());
    }
}

//! Writes the survey's stylesheet as it ships: `src/survey.css` without its comments and with
//! its white space collapsed, into `$OUT_DIR/survey.css`, which `host::STYLES` includes. Every
//! byte of the wasm reaches every visitor, and the comments are for the repository only
//! (measured with `cargo xtask build-widget`: 0.4 KB brotli).

use std::path::PathBuf;

fn main() {
    println!("cargo::rerun-if-changed=src/survey.css");
    let css = std::fs::read_to_string("src/survey.css").expect("reading src/survey.css");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out_dir.join("survey.css"), minify(&css)).expect("writing the stylesheet");
}

/// Drops `/* … */` comments, turns each run of white space into one space, and removes the
/// space next to `{`, `}` and `;`, where CSS never needs it. Strings keep their single
/// spaces; the stylesheet has no comment markers inside strings.
fn minify(css: &str) -> String {
    let mut without_comments = String::with_capacity(css.len());
    let mut rest = css;
    while let Some(start) = rest.find("/*") {
        without_comments.push_str(&rest[..start]);
        let end = rest[start..].find("*/").expect("every comment is closed");
        rest = &rest[start + end + 2..];
        without_comments.push(' ');
    }
    without_comments.push_str(rest);

    let mut out = String::with_capacity(without_comments.len());
    for word in without_comments.split_whitespace() {
        let joins = out.ends_with(['{', '}', ';']) || word.starts_with(['{', '}', ';']);
        if !out.is_empty() && !joins {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

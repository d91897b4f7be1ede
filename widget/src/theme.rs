//! The site's theme as CSS custom properties, in a constructed stylesheet of its own that the
//! survey adopts into its shadow root when it mounts.
//!
//! Pages with a strict `style-src 'self'` policy refuse `style` attributes and `<style>`
//! elements, but not constructed stylesheets, so the theme travels the way the widget's own
//! styles do. Only validated values reach the CSS: a [`Colour`] is `#rgb` or `#rrggbb` and the
//! radius a number of pixels, so a configuration cannot inject other CSS. `survey.css` reads the
//! properties with its own defaults, and uses the light-scheme colours in the light scheme only.

use crate::host::{self, HostError};
use touchstone_shared::survey::{Colour, Theme};
use wasm_bindgen::JsValue;
use web_sys::{CssStyleSheet, ShadowRoot};

/// The theme as a `:host` rule of custom properties. They are `!important` because a page's
/// rules for the host element would otherwise win over the shadow root's `:host` rules, and
/// custom properties inherit through `all: initial`.
pub fn css(theme: &Theme) -> String {
    let mut css = String::with_capacity(160);
    css.push_str(":host{--ts-accent:");
    css.push_str(theme.accent.as_str());
    css.push_str("!important;--ts-on-accent:");
    css.push_str(on_colour(&theme.accent));
    css.push_str("!important;--ts-radius:");
    push_number(&mut css, theme.radius);
    css.push_str("px!important;");
    if let Some(background) = &theme.background {
        css.push_str("--ts-bg:");
        css.push_str(background.as_str());
        css.push_str("!important;");
    }
    if let Some(text) = &theme.text {
        css.push_str("--ts-fg:");
        css.push_str(text.as_str());
        css.push_str("!important;");
    }
    css.push('}');
    css
}

/// Adopts `theme` into `shadow`, after the sheets already there, and returns its sheet so it can
/// be taken out again with [`remove`].
pub fn apply(shadow: &ShadowRoot, theme: &Theme) -> Result<CssStyleSheet, HostError> {
    let sheet = host::stylesheet(&css(theme))?;
    let sheets = shadow.adopted_style_sheets();
    sheets.push(&sheet);
    shadow.set_adopted_style_sheets(&sheets);
    Ok(sheet)
}

/// Takes `sheet` out of `shadow`'s adopted sheets.
pub fn remove(shadow: &ShadowRoot, sheet: &CssStyleSheet) {
    let sheet: &JsValue = sheet.as_ref();
    let kept = shadow
        .adopted_style_sheets()
        .filter(&mut |adopted, _, _| adopted != *sheet);
    shadow.set_adopted_style_sheets(&kept);
}

/// The text colour that reads on `colour`: near-black on light colours, white on dark ones,
/// judged by the YIQ brightness (integer arithmetic; no floating-point maths in the wasm).
pub fn on_colour(colour: &Colour) -> &'static str {
    let digits = colour.as_str().as_bytes().get(1..).unwrap_or_default();
    let channel = |index: usize| -> u32 {
        let nibble = |byte: u8| char::from(byte).to_digit(16).unwrap_or(0);
        if digits.len() == 3 {
            nibble(digits[index]) * 17
        } else {
            nibble(digits[2 * index]) * 16 + nibble(digits[2 * index + 1])
        }
    };
    let brightness = (299 * channel(0) + 587 * channel(1) + 114 * channel(2)) / 1000;
    if brightness >= 150 { "#111" } else { "#fff" }
}

/// Appends `number` in decimal, without `core::fmt`.
fn push_number(text: &mut String, number: u8) {
    if number >= 10 {
        push_number(text, number / 10);
    }
    text.push(char::from(b'0' + number % 10));
}

#[cfg(test)]
mod tests {
    use super::*;
    use touchstone_shared::survey::Position;

    fn colour(text: &str) -> Colour {
        Colour::parse(text).unwrap()
    }

    #[test]
    fn the_theme_becomes_host_custom_properties() {
        let theme = Theme {
            accent: colour("#0B57D0"),
            background: Some(colour("#fffdf5")),
            text: Some(colour("#222")),
            radius: 4,
            position: Position::Center,
        };
        assert_eq!(
            css(&theme),
            ":host{--ts-accent:#0b57d0!important;--ts-on-accent:#fff!important;\
             --ts-radius:4px!important;--ts-bg:#fffdf5!important;--ts-fg:#222!important;}"
        );
    }

    #[test]
    fn unset_colours_are_left_to_the_stylesheet() {
        let theme = Theme {
            radius: 32,
            ..Theme::default()
        };
        let css = css(&theme);
        assert!(css.contains("--ts-radius:32px"), "{css}");
        assert!(
            !css.contains("--ts-bg") && !css.contains("--ts-fg"),
            "{css}"
        );
        let square = super::css(&Theme {
            radius: 0,
            ..Theme::default()
        });
        assert!(square.contains("--ts-radius:0px"), "{square}");
    }

    #[test]
    fn text_on_the_accent_stays_readable() {
        for dark in ["#2f5bea", "#0b57d0", "#000", "#b42318", "#6a1b9a"] {
            assert_eq!(on_colour(&colour(dark)), "#fff", "{dark}");
        }
        for light in ["#fff", "#ffeb3b", "#ff8800", "#8fd", "#a5d6a7"] {
            assert_eq!(on_colour(&colour(light)), "#111", "{light}");
        }
    }
}

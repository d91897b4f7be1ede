//! Known bots and headless crawlers, recognised by their user agent. Their batches are answered
//! `200` (so they do not retry) but not stored: a crawler that runs the widget is not a visitor.

use std::sync::LazyLock;

/// The community-maintained pattern list of the `isbot` crate, compiled once.
static BOTS: LazyLock<isbot::Bots> = LazyLock::new(isbot::Bots::default);

/// Whether `user_agent` belongs to a known bot or headless browser.
pub fn is_known_bot(user_agent: &str) -> bool {
    BOTS.is_bot(user_agent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crawlers_and_headless_browsers_are_bots() {
        for agent in [
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36",
            "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        ] {
            assert!(is_known_bot(agent), "{agent}");
        }
    }

    #[test]
    fn everyday_browsers_are_not() {
        for agent in [
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0",
            "",
        ] {
            assert!(!is_known_bot(agent), "{agent}");
        }
    }
}

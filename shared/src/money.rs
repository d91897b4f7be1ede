//! Money without floating point: ISO 4217 currencies with the number of decimals each one
//! has (its exponent: EUR 2, JPY 0, BHD 3…), and amounts written as decimal text, parsed
//! exactly into whole minor units (cents, fils, yen) and written back the same way.
//!
//! An amount is never a float: `0.1 + 0.2` must not become `0.30000000000000004 EUR`. Amounts
//! with more decimals than their currency has are refused rather than rounded, so nothing is
//! lost without the sender knowing.

use serde::{Deserialize, Serialize};

/// A currency of ISO 4217, by its three-letter code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency {
    code: &'static str,
    exponent: u8,
}

/// Why a currency or an amount was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Not the code of a current ISO 4217 currency.
    #[error("{0:?} is not an ISO 4217 currency code (such as EUR, USD, JPY)")]
    UnknownCurrency(String),
    /// Not a plain decimal number.
    #[error(
        "an amount is a plain decimal number such as 1234.56 or -20 (no symbols, spaces or thousands separators), not {0:?}"
    )]
    NotAnAmount(String),
    /// More decimals than the currency has.
    #[error("{currency} has {exponent} decimal{}; {text} has more", plural(.exponent))]
    TooManyDecimals {
        /// The currency's code.
        currency: &'static str,
        /// How many decimals it has.
        exponent: u8,
        /// The amount as written.
        text: String,
    },
    /// Beyond [`MAX_MINOR_UNITS`] in either direction.
    #[error("{0} is too large an amount")]
    TooLarge(String),
}

/// "s" unless there is one.
fn plural(count: &u8) -> &'static str {
    if *count == 1 { "" } else { "s" }
}

/// The largest amount accepted, in minor units either side of zero: 15 digits, so that a
/// million such amounts still add up within a 64-bit integer many times over in practice,
/// and any sum fits in the 128-bit integers reports add with.
pub const MAX_MINOR_UNITS: i64 = 999_999_999_999_999;

/// The current ISO 4217 currencies (list one, 2025) and their exponents; codes without an
/// exponent (precious metals, testing codes, XDR) are left out, since they are not money a
/// customer pays in.
const CURRENCIES: &[(&str, u8)] = &[
    ("AED", 2),
    ("AFN", 2),
    ("ALL", 2),
    ("AMD", 2),
    ("ANG", 2),
    ("AOA", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("AWG", 2),
    ("AZN", 2),
    ("BAM", 2),
    ("BBD", 2),
    ("BDT", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BIF", 0),
    ("BMD", 2),
    ("BND", 2),
    ("BOB", 2),
    ("BOV", 2),
    ("BRL", 2),
    ("BSD", 2),
    ("BTN", 2),
    ("BWP", 2),
    ("BYN", 2),
    ("BZD", 2),
    ("CAD", 2),
    ("CDF", 2),
    ("CHE", 2),
    ("CHF", 2),
    ("CHW", 2),
    ("CLF", 4),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("COU", 2),
    ("CRC", 2),
    ("CUP", 2),
    ("CVE", 2),
    ("CZK", 2),
    ("DJF", 0),
    ("DKK", 2),
    ("DOP", 2),
    ("DZD", 2),
    ("EGP", 2),
    ("ERN", 2),
    ("ETB", 2),
    ("EUR", 2),
    ("FJD", 2),
    ("FKP", 2),
    ("GBP", 2),
    ("GEL", 2),
    ("GHS", 2),
    ("GIP", 2),
    ("GMD", 2),
    ("GNF", 0),
    ("GTQ", 2),
    ("GYD", 2),
    ("HKD", 2),
    ("HNL", 2),
    ("HTG", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("IRR", 2),
    ("ISK", 0),
    ("JMD", 2),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KGS", 2),
    ("KHR", 2),
    ("KMF", 0),
    ("KPW", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("KYD", 2),
    ("KZT", 2),
    ("LAK", 2),
    ("LBP", 2),
    ("LKR", 2),
    ("LRD", 2),
    ("LSL", 2),
    ("LYD", 3),
    ("MAD", 2),
    ("MDL", 2),
    ("MGA", 2),
    ("MKD", 2),
    ("MMK", 2),
    ("MNT", 2),
    ("MOP", 2),
    ("MRU", 2),
    ("MUR", 2),
    ("MVR", 2),
    ("MWK", 2),
    ("MXN", 2),
    ("MXV", 2),
    ("MYR", 2),
    ("MZN", 2),
    ("NAD", 2),
    ("NGN", 2),
    ("NIO", 2),
    ("NOK", 2),
    ("NPR", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PAB", 2),
    ("PEN", 2),
    ("PGK", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("PYG", 0),
    ("QAR", 2),
    ("RON", 2),
    ("RSD", 2),
    ("RUB", 2),
    ("RWF", 0),
    ("SAR", 2),
    ("SBD", 2),
    ("SCR", 2),
    ("SDG", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("SHP", 2),
    ("SLE", 2),
    ("SOS", 2),
    ("SRD", 2),
    ("SSP", 2),
    ("STN", 2),
    ("SVC", 2),
    ("SYP", 2),
    ("SZL", 2),
    ("THB", 2),
    ("TJS", 2),
    ("TMT", 2),
    ("TND", 3),
    ("TOP", 2),
    ("TRY", 2),
    ("TTD", 2),
    ("TWD", 2),
    ("TZS", 2),
    ("UAH", 2),
    ("UGX", 0),
    ("USD", 2),
    ("USN", 2),
    ("UYI", 0),
    ("UYU", 2),
    ("UYW", 4),
    ("UZS", 2),
    ("VED", 2),
    ("VES", 2),
    ("VND", 0),
    ("VUV", 0),
    ("WST", 2),
    ("XAF", 0),
    ("XCD", 2),
    ("XCG", 2),
    ("XOF", 0),
    ("XPF", 0),
    ("YER", 2),
    ("ZAR", 2),
    ("ZMW", 2),
    ("ZWG", 2),
];

impl Currency {
    /// The currency with this code, in any letter case (`eur` is EUR).
    pub fn parse(text: &str) -> Result<Self, MoneyError> {
        let code = text.trim().to_ascii_uppercase();
        CURRENCIES
            .binary_search_by(|(known, _)| (*known).cmp(code.as_str()))
            .map(|index| {
                let (code, exponent) = CURRENCIES[index];
                Currency { code, exponent }
            })
            .map_err(|_| MoneyError::UnknownCurrency(text.trim().chars().take(16).collect()))
    }

    /// The three-letter code, upper-case.
    pub fn code(self) -> &'static str {
        self.code
    }

    /// How many decimals an amount in this currency has (2 for EUR, 0 for JPY, 3 for BHD).
    pub fn exponent(self) -> u8 {
        self.exponent
    }

    /// Reads `text` — an optional sign, digits, and at most [`Currency::exponent`] decimals after
    /// a `.` — exactly, as a whole number of minor units: `"12.5"` EUR is 1250 cents, `"-3"` JPY
    /// is −3 yen.
    pub fn parse_amount(self, text: &str) -> Result<i64, MoneyError> {
        let trimmed = text.trim();
        let not_an_amount = || MoneyError::NotAnAmount(trimmed.chars().take(40).collect());
        let (negative, unsigned) = match trimmed.as_bytes().first() {
            Some(b'-') => (true, &trimmed[1..]),
            Some(b'+') => (false, &trimmed[1..]),
            _ => (false, trimmed),
        };
        let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        let digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
        if !digits(whole)
            || !digits(fraction)
            || (whole.is_empty() && fraction.is_empty())
            || (unsigned.ends_with('.') && fraction.is_empty())
        {
            return Err(not_an_amount());
        }
        if fraction.len() > usize::from(self.exponent) {
            return Err(MoneyError::TooManyDecimals {
                currency: self.code,
                exponent: self.exponent,
                text: trimmed.chars().take(40).collect(),
            });
        }
        let too_large = || MoneyError::TooLarge(trimmed.chars().take(40).collect());
        let whole = whole.trim_start_matches('0');
        // More digits than the limit has cannot be within it (and cannot overflow below).
        if whole.len() + usize::from(self.exponent) > 15 {
            return Err(too_large());
        }
        let mut minor: i64 = 0;
        let padding = usize::from(self.exponent) - fraction.len();
        for byte in whole
            .bytes()
            .chain(fraction.bytes())
            .chain(std::iter::repeat_n(b'0', padding))
        {
            minor = minor * 10 + i64::from(byte - b'0');
        }
        if minor > MAX_MINOR_UNITS {
            return Err(too_large());
        }
        Ok(if negative { -minor } else { minor })
    }

    /// `minor` units written in major units with exactly [`Currency::exponent`] decimals:
    /// 123456 EUR cents is `"1234.56"`, −5 yen is `"-5"`.
    pub fn format(self, minor: i128) -> String {
        let sign = if minor < 0 { "-" } else { "" };
        let magnitude = minor.unsigned_abs();
        let exponent = u32::from(self.exponent);
        if exponent == 0 {
            return format!("{sign}{magnitude}");
        }
        let scale = 10u128.pow(exponent);
        format!(
            "{sign}{}.{:0width$}",
            magnitude / scale,
            magnitude % scale,
            width = exponent as usize
        )
    }
}

impl std::fmt::Display for Currency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code)
    }
}

impl TryFrom<String> for Currency {
    type Error = MoneyError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Currency::parse(&value)
    }
}

impl From<Currency> for String {
    fn from(currency: Currency) -> String {
        currency.code.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn eur() -> Currency {
        Currency::parse("EUR").unwrap()
    }

    #[test]
    fn the_table_is_sorted_and_has_three_letter_codes() {
        assert!(CURRENCIES.windows(2).all(|pair| pair[0].0 < pair[1].0));
        assert!(CURRENCIES.iter().all(|(code, exponent)| code.len() == 3
            && code.bytes().all(|byte| byte.is_ascii_uppercase())
            && *exponent <= 4));
    }

    #[test]
    fn currencies_have_their_iso_exponents() {
        for (code, exponent) in [
            ("EUR", 2),
            ("usd", 2),
            (" JPY ", 0),
            ("KRW", 0),
            ("BHD", 3),
            ("KWD", 3),
            ("CLF", 4),
        ] {
            let currency = Currency::parse(code).unwrap();
            assert_eq!(currency.exponent(), exponent, "{code}");
            assert_eq!(currency.code(), code.trim().to_ascii_uppercase());
        }
        for unknown in ["", "EU", "EURO", "XXX", "XAU", "ABC", "€"] {
            assert!(
                matches!(
                    Currency::parse(unknown),
                    Err(MoneyError::UnknownCurrency(_))
                ),
                "{unknown}"
            );
        }
    }

    #[test]
    fn amounts_are_read_exactly_in_minor_units() {
        let eur = eur();
        let jpy = Currency::parse("JPY").unwrap();
        let bhd = Currency::parse("BHD").unwrap();
        assert_eq!(eur.parse_amount("12.5"), Ok(1250));
        assert_eq!(eur.parse_amount("12.50"), Ok(1250));
        assert_eq!(eur.parse_amount("0.1"), Ok(10));
        assert_eq!(eur.parse_amount(".05"), Ok(5));
        assert_eq!(eur.parse_amount("-20"), Ok(-2000));
        assert_eq!(eur.parse_amount("+7"), Ok(700));
        assert_eq!(eur.parse_amount(" 0007.01 "), Ok(701));
        assert_eq!(jpy.parse_amount("1500"), Ok(1500));
        assert_eq!(bhd.parse_amount("1.234"), Ok(1234));
        assert_eq!(
            eur.parse_amount("9999999999999.99"),
            Ok(999_999_999_999_999)
        );
    }

    #[test]
    fn amounts_with_too_many_decimals_are_refused_not_rounded() {
        let error = eur().parse_amount("12.345").unwrap_err();
        assert_eq!(error.to_string(), "EUR has 2 decimals; 12.345 has more");
        let yen = Currency::parse("JPY").unwrap().parse_amount("10.5");
        assert!(matches!(yen, Err(MoneyError::TooManyDecimals { .. })));
        assert!(matches!(
            Currency::parse("JPY").unwrap().parse_amount("10.0"),
            Err(MoneyError::TooManyDecimals { .. })
        ));
    }

    #[test]
    fn anything_but_a_plain_decimal_is_refused() {
        for text in [
            "", "-", ".", "1.", "1,50", "1 000", "€12", "12€", "1e3", "0x10", "1.2.3", "--1",
            "NaN", "inf", "١٢", "12.5 ",
        ] {
            let parsed = eur().parse_amount(text);
            // "12.5 " is trimmed, so it reads; everything else is refused.
            if text == "12.5 " {
                assert_eq!(parsed, Ok(1250));
            } else {
                assert!(
                    matches!(parsed, Err(MoneyError::NotAnAmount(_))),
                    "{text:?}: {parsed:?}"
                );
            }
        }
        assert!(matches!(
            eur().parse_amount("10000000000000"),
            Err(MoneyError::TooLarge(_))
        ));
        assert!(matches!(
            eur().parse_amount(&"9".repeat(400)),
            Err(MoneyError::TooLarge(_))
        ));
    }

    #[test]
    fn amounts_are_written_with_the_currency_s_decimals() {
        assert_eq!(eur().format(123_456), "1234.56");
        assert_eq!(eur().format(5), "0.05");
        assert_eq!(eur().format(0), "0.00");
        assert_eq!(eur().format(-180_050), "-1800.50");
        assert_eq!(Currency::parse("JPY").unwrap().format(-5), "-5");
        assert_eq!(Currency::parse("BHD").unwrap().format(1), "0.001");
        assert_eq!(
            eur().format(i128::from(MAX_MINOR_UNITS) * 1_000_000),
            "9999999999999990000.00"
        );
    }

    proptest! {
        #[test]
        fn formatting_and_parsing_round_trip(minor in -MAX_MINOR_UNITS..=MAX_MINOR_UNITS, index in 0..CURRENCIES.len()) {
            let currency = Currency::parse(CURRENCIES[index].0).unwrap();
            let text = currency.format(i128::from(minor));
            prop_assert_eq!(currency.parse_amount(&text), Ok(minor));
        }

        #[test]
        fn parsing_never_panics(text in "\\PC{0,30}") {
            let _ = eur().parse_amount(&text);
        }

        #[test]
        fn decimal_text_means_what_it_says(whole in 0u64..10_000_000_000, cents in 0u64..100) {
            let text = format!("{whole}.{cents:02}");
            prop_assert_eq!(eur().parse_amount(&text), Ok((whole * 100 + cents) as i64));
        }
    }
}

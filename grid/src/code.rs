//! Grid-cell codes and the configurable pattern they are checked against.
//!
//! Codes are data, not numbers: a 15-digit code such as `110101001001001`
//! would survive as an integer, but a leading zero or a 20-digit professional
//! code (CJ/T 349) would not, so codes stay strings from import to wire.

use std::fmt;
use std::str::FromStr;

use crate::GridError;

/// Longest code any pattern accepts. Real schemes use 15 or 20 digits; the
/// cap keeps a malformed file from putting kilobytes into every report.
pub const MAX_CODE_LEN: usize = 64;

/// How cell codes are validated. Build it with [`CodePattern::digits`],
/// [`CodePattern::default_15`] or [`CodePattern::parse`] (from configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodePattern {
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// Between `min` and `max` ASCII digits, inclusive.
    Digits { min: usize, max: usize },
    /// Any non-empty code without whitespace or control characters.
    Any,
}

impl CodePattern {
    /// Exactly `n` ASCII digits. `n` is clamped to `1..=MAX_CODE_LEN` so the
    /// pattern can always be satisfied; use [`CodePattern::parse`] to get an
    /// error instead.
    pub fn digits(n: usize) -> Self {
        let n = n.clamp(1, MAX_CODE_LEN);
        CodePattern {
            kind: Kind::Digits { min: n, max: n },
        }
    }

    /// The common 15-digit form: 6 region (GB/T 2260) + 3 street/town +
    /// 3 community + 3 sequence.
    pub fn default_15() -> Self {
        Self::digits(15)
    }

    /// Any non-empty code of at most [`MAX_CODE_LEN`] characters without
    /// whitespace or control characters. Used for layers whose scheme is
    /// not known, and for layers received over the wire.
    pub fn any() -> Self {
        CodePattern { kind: Kind::Any }
    }

    /// Parses a pattern from configuration: `digits:15`, `digits:12-20`
    /// (inclusive range) or `any`.
    pub fn parse(spec: &str) -> Result<Self, GridError> {
        let bad = |reason: &str| GridError::BadPattern {
            spec: spec.to_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = spec.trim();
        if trimmed == "any" {
            return Ok(Self::any());
        }
        let Some(counts) = trimmed.strip_prefix("digits:") else {
            return Err(bad(
                "expected \"digits:N\", \"digits:MIN-MAX\" or \"any\" (for example \"digits:15\")",
            ));
        };
        let count = |s: &str| -> Result<usize, GridError> {
            match s.trim().parse::<usize>() {
                Ok(n) if (1..=MAX_CODE_LEN).contains(&n) => Ok(n),
                Ok(n) => Err(bad(&format!(
                    "digit count {n} is outside 1..={MAX_CODE_LEN}"
                ))),
                Err(_) => Err(bad(&format!("{s:?} is not a digit count"))),
            }
        };
        let (min, max) = match counts.split_once('-') {
            Some((lo, hi)) => (count(lo)?, count(hi)?),
            None => {
                let n = count(counts)?;
                (n, n)
            }
        };
        if min > max {
            return Err(bad(&format!(
                "range {min}-{max} is empty; write the smaller count first"
            )));
        }
        Ok(CodePattern {
            kind: Kind::Digits { min, max },
        })
    }

    /// Checks one code; the error says what is wrong with it.
    pub fn check(&self, code: &str) -> Result<(), GridError> {
        let bad = |reason: String| GridError::BadCode {
            code: code.to_owned(),
            reason,
        };
        match self.kind {
            Kind::Digits { min, max } => {
                if let Some((pos, ch)) = code.chars().enumerate().find(|(_, c)| !c.is_ascii_digit())
                {
                    return Err(bad(format!(
                        "has {ch:?} at position {}; expected {}",
                        pos + 1,
                        self.describe()
                    )));
                }
                // Only ASCII digits remain, so bytes == characters.
                let len = code.len();
                if len < min || len > max {
                    return Err(bad(format!(
                        "has {len} digits; expected {}",
                        self.describe()
                    )));
                }
                Ok(())
            }
            Kind::Any => {
                if code.is_empty() {
                    return Err(bad("is empty; a cell needs a code".to_owned()));
                }
                if let Some((pos, ch)) = code
                    .chars()
                    .enumerate()
                    .find(|(_, c)| c.is_whitespace() || c.is_control())
                {
                    return Err(bad(format!(
                        "has whitespace or a control character {ch:?} at position {}",
                        pos + 1
                    )));
                }
                let len = code.chars().count();
                if len > MAX_CODE_LEN {
                    return Err(bad(format!(
                        "is {len} characters long; at most {MAX_CODE_LEN} are allowed"
                    )));
                }
                Ok(())
            }
        }
    }

    /// Human wording of the pattern, used in error messages.
    pub(crate) fn describe(&self) -> String {
        match self.kind {
            Kind::Digits { min, max } if min == max => format!("exactly {min} ASCII digits"),
            Kind::Digits { min, max } => format!("{min} to {max} ASCII digits"),
            Kind::Any => "a non-empty code without whitespace".to_owned(),
        }
    }
}

impl Default for CodePattern {
    fn default() -> Self {
        Self::default_15()
    }
}

/// Prints the pattern in the syntax [`CodePattern::parse`] reads back.
impl fmt::Display for CodePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Kind::Digits { min, max } if min == max => write!(f, "digits:{min}"),
            Kind::Digits { min, max } => write!(f, "digits:{min}-{max}"),
            Kind::Any => f.write_str("any"),
        }
    }
}

impl FromStr for CodePattern {
    type Err = GridError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms_and_prints_them_back() {
        for spec in ["digits:15", "digits:12-20", "any"] {
            let p = CodePattern::parse(spec).unwrap();
            assert_eq!(p.to_string(), spec);
        }
        assert_eq!(
            CodePattern::parse("digits:15").unwrap(),
            CodePattern::default_15()
        );
        assert_eq!(
            CodePattern::parse(" digits: 12 - 20 ").unwrap().to_string(),
            "digits:12-20"
        );
        assert_eq!(CodePattern::default(), CodePattern::digits(15));
    }

    #[test]
    fn refuses_bad_specs_with_a_reason() {
        for (spec, needle) in [
            ("", "expected \"digits:N\""),
            ("regex:.*", "expected \"digits:N\""),
            ("digits:", "not a digit count"),
            ("digits:x", "not a digit count"),
            ("digits:0", "outside 1..=64"),
            ("digits:65", "outside 1..=64"),
            ("digits:20-12", "range 20-12 is empty"),
            ("digits:12-", "not a digit count"),
        ] {
            let err = CodePattern::parse(spec).unwrap_err().to_string();
            assert!(err.contains(needle), "{spec:?}: {err}");
            assert!(err.contains(&format!("{spec:?}")), "{spec:?}: {err}");
        }
    }

    #[test]
    fn digits_checks_count_and_characters() {
        let p = CodePattern::default_15();
        p.check("990102001001001").unwrap();
        // Leading zeros are why codes are strings.
        p.check("000102001001001").unwrap();
        let short = p.check("99010200100100").unwrap_err().to_string();
        assert!(
            short.contains("has 14 digits; expected exactly 15"),
            "{short}"
        );
        let letter = p.check("99010200100100A").unwrap_err().to_string();
        assert!(letter.contains("'A' at position 15"), "{letter}");
        let full_width = p.check("９90102001001001").unwrap_err().to_string();
        assert!(full_width.contains("position 1"), "{full_width}");
        assert!(p.check("").is_err());

        let range = CodePattern::parse("digits:12-20").unwrap();
        range.check("123456789012").unwrap();
        range.check("12345678901234567890").unwrap();
        let err = range.check("12345678901").unwrap_err().to_string();
        assert!(err.contains("expected 12 to 20 ASCII digits"), "{err}");
        assert!(range.check("123456789012345678901").is_err());
    }

    #[test]
    fn any_refuses_empty_whitespace_control_and_long() {
        let p = CodePattern::any();
        p.check("A-17/北").unwrap();
        assert!(p.check("").unwrap_err().to_string().contains("is empty"));
        assert!(p
            .check("a b")
            .unwrap_err()
            .to_string()
            .contains("position 2"));
        assert!(p.check("a\u{7}").is_err());
        p.check(&"x".repeat(MAX_CODE_LEN)).unwrap();
        let long = p
            .check(&"x".repeat(MAX_CODE_LEN + 1))
            .unwrap_err()
            .to_string();
        assert!(long.contains("65 characters long"), "{long}");
    }

    #[test]
    fn digits_constructor_clamps_instead_of_building_an_impossible_pattern() {
        assert_eq!(CodePattern::digits(0).to_string(), "digits:1");
        assert_eq!(CodePattern::digits(1000).to_string(), "digits:64");
    }
}

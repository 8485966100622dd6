//! What the panel's forms share: reading a field into a value or into a message for the person
//! who typed it, and the errors of one submission kept by field, so that a form re-renders
//! itself with each message next to its field and the input kept, instead of an error page
//! that loses what was typed.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono_tz::{TZ_VARIANTS, Tz};

use crate::error::AppError;

/// Largest capacity a site can be given, kWp.
pub const MAX_CAPACITY_KWP: f64 = 100_000.0;

/// The errors of one submitted form, by field name.
#[derive(Debug, Default)]
pub struct FieldErrors {
    errors: Vec<(&'static str, String)>,
}

impl FieldErrors {
    /// No errors yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of `checked`, or none with its message recorded against `field`.
    pub fn take<T>(&mut self, field: &'static str, checked: Result<T, String>) -> Option<T> {
        match checked {
            Ok(value) => Some(value),
            Err(message) => {
                self.add(field, message);
                None
            }
        }
    }

    /// Records `message` against `field` (the first message of a field is the one shown).
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.errors.push((field, message.into()));
    }

    /// The message for `field`, if it is wrong.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.errors.iter().find(|(name, _)| *name == field).map(|(_, message)| message.as_str())
    }

    /// True when the form can be saved.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// The attributes that tie a wrong field's input to its message (empty for a right one).
    /// Field names are literals of the templates, so the result is safe to insert unescaped.
    pub fn aria(&self, field: &str) -> String {
        if self.get(field).is_some() {
            format!(r#" aria-invalid="true" aria-describedby="{field}-error""#)
        } else {
            String::new()
        }
    }
}

/// A page that re-renders a form with its errors: `422 Unprocessable Content`.
pub fn invalid<T: Template>(page: &T) -> Result<Response, AppError> {
    Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(page.render()?)).into_response())
}

/// Trimmed text of 1 to `max` characters without control characters.
pub fn text(value: &str, max: usize) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("Required.".into());
    }
    if value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(format!("Give at most {max} characters, without control characters."));
    }
    Ok(value.to_owned())
}

/// A capacity in kWp: more than 0, at most [`MAX_CAPACITY_KWP`]; a decimal comma is read as a
/// point, as it is written across most of Europe.
pub fn capacity(value: &str) -> Result<f64, String> {
    let value = value.trim();
    let normalised = if value.matches(',').count() == 1 && !value.contains('.') {
        value.replace(',', ".")
    } else {
        value.to_owned()
    };
    normalised.parse::<f64>().ok().filter(|v| v.is_finite() && *v > 0.0 && *v <= MAX_CAPACITY_KWP).ok_or_else(
        || "Give the peak power in kWp: more than 0 and at most 100000, such as 10.5 or 10,5.".into(),
    )
}

/// A timezone by its IANA name in any case (`europe/berlin`), or by its city alone (`Berlin`,
/// `new york`) when exactly one zone has that city.
pub fn timezone(value: &str) -> Result<Tz, String> {
    let wanted = value.trim().replace(' ', "_");
    if wanted.is_empty() {
        return Err("Required: a timezone such as Europe/Berlin.".into());
    }
    if let Some(tz) = TZ_VARIANTS.iter().find(|tz| tz.name().eq_ignore_ascii_case(&wanted)) {
        return Ok(*tz);
    }
    let by_city: Vec<Tz> = TZ_VARIANTS
        .iter()
        .filter(|tz| tz.name().contains('/'))
        .filter(|tz| tz.name().rsplit('/').next().is_some_and(|city| city.eq_ignore_ascii_case(&wanted)))
        .copied()
        .collect();
    let shown: String = value.trim().chars().take(40).collect();
    match by_city.as_slice() {
        [tz] => Ok(*tz),
        [] => Err(format!("No timezone is called “{shown}”: pick one from the list, such as Europe/Berlin.")),
        several => Err(format!(
            "“{shown}” could be {}: pick one.",
            several.iter().map(|tz| tz.name()).collect::<Vec<_>>().join(" or ")
        )),
    }
}

/// Every timezone's name, for a searchable `<datalist>`.
pub fn timezone_names() -> Vec<&'static str> {
    TZ_VARIANTS.iter().map(|tz| tz.name()).collect()
}

/// A whole number within `range`.
pub fn whole_number<T>(value: &str, range: std::ops::RangeInclusive<T>) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    value
        .trim()
        .parse::<T>()
        .ok()
        .filter(|v| range.contains(v))
        .ok_or_else(|| format!("Give a whole number from {} to {}.", range.start(), range.end()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capacity_is_read_with_a_decimal_comma_or_point() {
        assert_eq!(capacity("10,5"), Ok(10.5));
        assert_eq!(capacity(" 10.5 "), Ok(10.5));
        assert_eq!(capacity("100000"), Ok(100_000.0));
        for refused in ["0", "-1", "1,000.5", "1.000,5", "abc", "", "NaN", "inf", "100000,1"] {
            assert!(capacity(refused).is_err(), "{refused:?} is refused");
        }
    }

    #[test]
    fn a_timezone_is_found_in_any_case_or_by_its_city_when_that_is_unique() {
        assert_eq!(timezone("europe/berlin"), Ok(chrono_tz::Europe::Berlin));
        assert_eq!(timezone(" Berlin "), Ok(chrono_tz::Europe::Berlin));
        assert_eq!(timezone("new york"), Ok(chrono_tz::America::New_York));
        assert_eq!(timezone("utc"), Ok(chrono_tz::UTC));
        let ambiguous = timezone("Indianapolis").unwrap_err();
        assert!(ambiguous.contains("America/Indianapolis") && ambiguous.contains(" or "), "{ambiguous}");
        assert!(timezone("Atlantis").unwrap_err().contains("No timezone is called “Atlantis”"));
    }

    #[test]
    fn only_a_wrong_field_gets_aria_attributes() {
        let mut errors = FieldErrors::new();
        assert_eq!(errors.take("name", text("  ", 10)), None);
        assert_eq!(errors.take("city", text(" Graz ", 10)), Some("Graz".to_owned()));
        assert_eq!(errors.get("name"), Some("Required."));
        assert_eq!(errors.aria("name"), r#" aria-invalid="true" aria-describedby="name-error""#);
        assert_eq!(errors.aria("city"), "");
    }
}

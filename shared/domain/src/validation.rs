//! Field-level validation: every rule that fails is reported, not just the first.

use serde::{Deserialize, Serialize};

/// One problem with one field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Collects field errors while a request is checked.
#[derive(Debug, Default)]
pub struct Problems(Vec<FieldError>);

impl Problems {
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    pub fn extend(&mut self, errors: impl IntoIterator<Item = FieldError>) {
        self.0.extend(errors);
    }

    /// Runs a field's check and keeps its error, returning the value when it passed.
    pub fn check<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        result.map_err(|e| self.0.push(e)).ok()
    }

    pub fn into_result<T>(self, value: impl FnOnce() -> T) -> Result<T, Vec<FieldError>> {
        if self.0.is_empty() {
            Ok(value())
        } else {
            Err(self.0)
        }
    }
}

/// A trimmed text of `min..=max` characters.
pub fn text(field: &str, raw: &str, min: usize, max: usize) -> Result<String, FieldError> {
    let value = raw.trim();
    let length = value.chars().count();
    if length < min || length > max {
        let message = if min == max {
            format!("must be {min} characters")
        } else if min > 0 && length < min {
            format!(
                "must have at least {min} character{}",
                if min == 1 { "" } else { "s" }
            )
        } else {
            format!("must have at most {max} characters")
        };
        return Err(FieldError::new(field, message));
    }
    Ok(value.to_owned())
}

/// For a field where `null` means something (remove the value): `Some(None)` when the client sent
/// `null`, `None` (with `#[serde(default)]`) when it left the field out.
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(text("name", "  Ada ", 1, 10).unwrap(), "Ada");
        assert_eq!(
            text("name", "   ", 1, 10).unwrap_err().message,
            "must have at least 1 character"
        );
        assert_eq!(
            text("name", "abcdefghijk", 1, 10).unwrap_err().message,
            "must have at most 10 characters"
        );
    }

    #[test]
    fn problems_collect_every_failure() {
        let mut problems = Problems::default();
        assert_eq!(problems.check(text("a", "ok", 1, 5)), Some("ok".to_owned()));
        assert_eq!(problems.check(text("b", "", 1, 5)), None);
        problems.add("c", "is wrong");
        let fields: Vec<String> = problems
            .into_result(|| ())
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, vec!["b", "c"]);
    }
}

//! Cursor pagination: `limit` (default 20, at most 100) and an opaque `cursor`, the last id of the previous
//! page. Ids are UUID v7, so id order is creation order and the cursor is a plain keyset position.

use uuid::Uuid;

use crate::validation::FieldError;

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub limit: i64,
    /// Items strictly after this id (in the listing's order).
    pub after: Option<Uuid>,
}

pub fn parse_page(limit: Option<&str>, cursor: Option<&str>) -> Result<Page, Vec<FieldError>> {
    let mut problems = Vec::new();
    let limit = match limit {
        None => DEFAULT_LIMIT,
        Some(raw) => match raw.parse::<i64>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                problems.push(FieldError::new(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_LIMIT}"),
                ));
                DEFAULT_LIMIT
            }
        },
    };
    let after = match cursor.filter(|c| !c.is_empty()) {
        None => None,
        Some(raw) => match decode_cursor(raw) {
            Some(id) => Some(id),
            None => {
                problems.push(FieldError::new(
                    "cursor",
                    "is not a cursor this API returned",
                ));
                None
            }
        },
    };
    if problems.is_empty() {
        Ok(Page { limit, after })
    } else {
        Err(problems)
    }
}

/// Cursors are opaque to clients: the id's 32 hex digits, reversed in pairs with a version prefix, so
/// nobody mistakes one for an id.
pub fn encode_cursor(id: Uuid) -> String {
    format!(
        "c1{}",
        id.simple().to_string().chars().rev().collect::<String>()
    )
}

pub fn decode_cursor(cursor: &str) -> Option<Uuid> {
    let reversed: String = cursor.strip_prefix("c1")?.chars().rev().collect();
    Uuid::try_parse(&reversed).ok()
}

/// Cursors of listings in (day, id) order: `d1`, the day as `YYYYMMDD`, then the id as `encode_cursor`
/// writes it.
pub fn encode_day_cursor(day: chrono::NaiveDate, id: Uuid) -> String {
    format!("d1{}{}", day.format("%Y%m%d"), &encode_cursor(id)[2..])
}

pub fn decode_day_cursor(cursor: &str) -> Option<(chrono::NaiveDate, Uuid)> {
    let rest = cursor.strip_prefix("d1")?;
    let day = chrono::NaiveDate::parse_from_str(rest.get(..8)?, "%Y%m%d").ok()?;
    let id = decode_cursor(&format!("c1{}", rest.get(8..)?))?;
    Some((day, id))
}

/// The cursor for the next page: present only when this page is full.
pub fn next_cursor<T>(items: &[T], page: Page, id: impl Fn(&T) -> Uuid) -> Option<String> {
    if (items.len() as i64) < page.limit {
        None
    } else {
        items.last().map(|last| encode_cursor(id(last)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_bounds() {
        assert_eq!(
            parse_page(None, None).unwrap(),
            Page {
                limit: 20,
                after: None
            }
        );
        assert_eq!(parse_page(Some("100"), None).unwrap().limit, 100);
        for bad in ["0", "101", "-1", "ten"] {
            assert_eq!(parse_page(Some(bad), None).unwrap_err()[0].field, "limit");
        }
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let id = Uuid::now_v7();
        assert_eq!(
            parse_page(None, Some(&encode_cursor(id))).unwrap().after,
            Some(id)
        );
        assert_eq!(
            parse_page(None, Some("not-a-cursor")).unwrap_err()[0].field,
            "cursor"
        );
        assert_eq!(
            parse_page(None, Some(&id.to_string())).unwrap_err()[0].field,
            "cursor"
        );
    }

    #[test]
    fn day_cursors_round_trip_and_garbage_is_refused() {
        let (day, id) = (
            chrono::NaiveDate::from_ymd_opt(2026, 2, 28).unwrap(),
            Uuid::now_v7(),
        );
        assert_eq!(
            decode_day_cursor(&encode_day_cursor(day, id)),
            Some((day, id))
        );
        for bad in [
            "d1",
            "d12026",
            "d120261399",
            &encode_cursor(id),
            "d1ééééééééx",
        ] {
            assert_eq!(decode_day_cursor(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_a_full_page_has_a_next_cursor() {
        let page = Page {
            limit: 2,
            after: None,
        };
        let ids = [Uuid::now_v7(), Uuid::now_v7()];
        assert_eq!(next_cursor(&ids, page, |i| *i), Some(encode_cursor(ids[1])));
        assert_eq!(next_cursor(&ids[..1], page, |i| *i), None);
    }
}

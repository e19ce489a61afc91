//! Settlement: what a merchant is owed. The money rules (ADR 0009) live here and nowhere else: the fee of
//! a transaction, its rounding, and how amounts are written in a settlement file.

use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::validation::FieldError;

/// What a merchant pays per captured transaction: a rate in basis points of the gross and a fixed part.
/// Serialised with the names the API and the database use (audit records show it so).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeSchedule {
    #[serde(rename = "fee_rate_bps")]
    pub rate_bps: i32,
    #[serde(rename = "fee_fixed_cents")]
    pub fixed_cents: i64,
}

impl FeeSchedule {
    /// 2.9 % + 30 cents, the schedule a merchant gets unless told otherwise.
    pub const DEFAULT: FeeSchedule = FeeSchedule {
        rate_bps: 290,
        fixed_cents: 30,
    };
    pub const MAX_RATE_BPS: i32 = 10_000;
    pub const MAX_FIXED_CENTS: i64 = 100_000;

    pub fn new(rate_bps: i32, fixed_cents: i64) -> Result<Self, Vec<FieldError>> {
        let mut problems = Vec::new();
        if !(0..=Self::MAX_RATE_BPS).contains(&rate_bps) {
            problems.push(FieldError::new(
                "fee_rate_bps",
                format!("must be 0 to {} basis points", Self::MAX_RATE_BPS),
            ));
        }
        if !(0..=Self::MAX_FIXED_CENTS).contains(&fixed_cents) {
            problems.push(FieldError::new(
                "fee_fixed_cents",
                format!("must be 0 to {} cents", Self::MAX_FIXED_CENTS),
            ));
        }
        if problems.is_empty() {
            Ok(Self {
                rate_bps,
                fixed_cents,
            })
        } else {
            Err(problems)
        }
    }

    /// The fee of a capture of `gross_cents`: the rate's share rounded half up to a whole cent, plus the
    /// fixed part. Computed once, when the ledger row is written; a refund returns no fee.
    pub fn fee(&self, gross_cents: i64) -> i64 {
        assert!(gross_cents >= 0, "fees are charged on captures only");
        let share = (i128::from(gross_cents) * i128::from(self.rate_bps) + 5_000) / 10_000;
        i64::try_from(share).expect("a share of an i64 fits an i64") + self.fixed_cents
    }
}

/// Why a ledger row exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerKind {
    Capture,
    Refund,
}

impl LedgerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LedgerKind::Capture => "CAPTURE",
            LedgerKind::Refund => "REFUND",
        }
    }
}

/// UTC days, both ends included: what a settlement or a report covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayRange {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl DayRange {
    pub const MAX_DAYS: i64 = 366;

    pub fn new(from: NaiveDate, to: NaiveDate) -> Result<Self, FieldError> {
        if to < from {
            return Err(FieldError::new("to", "must be on or after from"));
        }
        if (to - from).num_days() >= Self::MAX_DAYS {
            return Err(FieldError::new(
                "to",
                format!("must be at most {} days after from", Self::MAX_DAYS - 1),
            ));
        }
        Ok(Self { from, to })
    }

    /// The first instant of the range and the first one after it (UTC midnights).
    pub fn instants(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        let midnight = |day: NaiveDate| day.and_time(NaiveTime::MIN).and_utc();
        (midnight(self.from), midnight(self.to + Days::new(1)))
    }

    /// The days, cut into at most `parts` ranges of consecutive whole days, in order, their lengths
    /// differing by at most one day (fewer parts when there are fewer days).
    pub fn split(&self, parts: usize) -> Vec<DayRange> {
        let days = (self.to - self.from).num_days() as u64 + 1;
        let parts = (parts.max(1) as u64).min(days);
        let mut from = self.from;
        (0..parts)
            .map(|n| {
                let length = days / parts + u64::from(n < days % parts);
                let part = DayRange {
                    from,
                    to: from + Days::new(length - 1),
                };
                from = part.to + Days::new(1);
                part
            })
            .collect()
    }

    /// Parses `YYYY-MM-DD` for the field `field`.
    pub fn day(field: &str, raw: &str) -> Result<NaiveDate, FieldError> {
        NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .map_err(|_| FieldError::new(field, "must be a date like 2026-01-31"))
    }
}

/// One line of a settlement: a merchant's captures and refunds of one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementLine {
    pub merchant_id: Uuid,
    pub date: NaiveDate,
    pub gross_cents: i64,
    pub fee_cents: i64,
    pub txn_count: i64,
}

impl SettlementLine {
    pub const CSV_HEADER: &str = "merchant_id,date,gross,fee,net,txn_count\n";

    pub fn net_cents(&self) -> i64 {
        self.gross_cents - self.fee_cents
    }

    /// The line as the settlement file writes it, newline included.
    pub fn csv(&self) -> String {
        format!(
            "{},{},{},{},{},{}\n",
            self.merchant_id,
            self.date.format("%Y-%m-%d"),
            major_units(self.gross_cents),
            major_units(self.fee_cents),
            major_units(self.net_cents()),
            self.txn_count
        )
    }
}

/// Minor units as decimal major units with two places: 150000 → `1500.00`, -5 → `-0.05`.
pub fn major_units(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn the_default_fee_is_the_rate_rounded_half_up_plus_thirty_cents() {
        let fees = FeeSchedule::DEFAULT;
        // 2.9 % of 100.00 is exactly 2.90.
        assert_eq!(fees.fee(10_000), 290 + 30);
        // 2.9 % of 0.50 is 1.45 cents: rounds down.
        assert_eq!(fees.fee(50), 1 + 30);
        // 2.9 % of 0.55 is 1.595 cents: rounds up.
        assert_eq!(fees.fee(55), 2 + 30);
        // Exactly half a cent rounds up: 1 bps of 50.00 is 0.5 cents.
        assert_eq!(FeeSchedule::new(1, 0).unwrap().fee(5_000), 1);
        assert_eq!(FeeSchedule::new(1, 0).unwrap().fee(4_999), 0);
        assert_eq!(
            fees.fee(0),
            30,
            "the fixed part is charged on every capture"
        );
        // No overflow at the top of the range.
        assert_eq!(
            FeeSchedule::new(10_000, 0).unwrap().fee(i64::MAX / 2),
            i64::MAX / 2
        );
    }

    #[test]
    fn a_fee_schedule_out_of_range_is_refused_field_by_field() {
        let problems = FeeSchedule::new(10_001, -1).unwrap_err();
        let fields: Vec<_> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["fee_rate_bps", "fee_fixed_cents"]);
        assert!(FeeSchedule::new(0, 0).is_ok());
    }

    #[test]
    fn money_is_written_in_major_units_with_two_places() {
        assert_eq!(major_units(150_000), "1500.00");
        assert_eq!(major_units(5), "0.05");
        assert_eq!(major_units(-5), "-0.05");
        assert_eq!(major_units(-12_345), "-123.45");
        assert_eq!(major_units(0), "0.00");
    }

    #[test]
    fn a_settlement_line_is_one_csv_row_with_net_as_gross_minus_fee() {
        let line = SettlementLine {
            merchant_id: Uuid::nil(),
            date: day("2026-01-31"),
            gross_cents: 150_000,
            fee_cents: 4_380,
            txn_count: 3,
        };
        assert_eq!(
            line.csv(),
            "00000000-0000-0000-0000-000000000000,2026-01-31,1500.00,43.80,1456.20,3\n"
        );
        assert_eq!(
            SettlementLine::CSV_HEADER,
            "merchant_id,date,gross,fee,net,txn_count\n"
        );
    }

    #[test]
    fn a_range_splits_into_consecutive_whole_days_of_near_equal_length() {
        let january = DayRange::new(day("2026-01-01"), day("2026-01-31")).unwrap();
        assert_eq!(
            january.split(2),
            [
                DayRange::new(day("2026-01-01"), day("2026-01-16")).unwrap(),
                DayRange::new(day("2026-01-17"), day("2026-01-31")).unwrap(),
            ]
        );
        let parts = january.split(3);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].from, january.from);
        assert_eq!(parts[2].to, january.to);
        for pair in parts.windows(2) {
            assert_eq!(
                pair[0].to + Days::new(1),
                pair[1].from,
                "no gap, no overlap"
            );
        }
        let one_day = DayRange::new(day("2026-03-01"), day("2026-03-01")).unwrap();
        assert_eq!(one_day.split(4), [one_day], "never more parts than days");
        assert_eq!(january.split(0), [january]);
    }

    #[test]
    fn a_day_range_is_ordered_and_at_most_366_days() {
        assert!(DayRange::new(day("2026-01-01"), day("2026-01-01")).is_ok());
        assert!(DayRange::new(day("2026-01-01"), day("2027-01-01")).is_ok()); // 366 days
        assert_eq!(
            DayRange::new(day("2026-01-01"), day("2027-01-02"))
                .unwrap_err()
                .field,
            "to"
        );
        assert_eq!(
            DayRange::new(day("2026-01-02"), day("2026-01-01"))
                .unwrap_err()
                .message,
            "must be on or after from"
        );
        assert_eq!(
            DayRange::day("from", "2026-1-32").unwrap_err().field,
            "from"
        );
    }
}

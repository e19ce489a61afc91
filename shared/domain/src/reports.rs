//! Daily sales rollups.

use chrono::NaiveDate;
use serde::Serialize;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProductDay {
    pub product_id: Uuid,
    pub orders: i32,
    pub units: i32,
    pub gross_cents: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SalesDay {
    pub date: NaiveDate,
    pub orders: i32,
    pub units: i32,
    pub gross_cents: i64,
    pub cancelled_orders: i32,
    pub products: Vec<ProductDay>,
}

impl SalesDay {
    /// The first line of a daily sales export.
    pub const CSV_HEADER: &str = "date,orders,units,gross,cancelled_orders\n";

    /// The day as a line of the export: money in major units with two places, as in settlement files.
    pub fn csv(&self) -> String {
        format!(
            "{},{},{},{},{}\n",
            self.date,
            self.orders,
            self.units,
            crate::settlement::major_units(self.gross_cents),
            self.cancelled_orders
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_export_line_has_the_headers_columns_in_order() {
        let day = SalesDay {
            date: NaiveDate::from_ymd_opt(2026, 1, 31).unwrap(),
            orders: 3,
            units: 7,
            gross_cents: 14_997,
            cancelled_orders: 1,
            products: vec![],
        };
        assert_eq!(day.csv(), "2026-01-31,3,7,149.97,1\n");
        assert_eq!(
            SalesDay::CSV_HEADER.trim_end().split(',').count(),
            day.csv().trim_end().split(',').count()
        );
    }
}

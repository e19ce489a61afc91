//! `make seed-transactions N=…`: a realistic ledger for settlement at scale — N transactions over 100
//! merchants and the days of one month, every 40th a refund. The data is a pure function of its index
//! (ids included), so a second run adds nothing, and a run that stopped half-way finishes the rest.

use chrono::{DateTime, Days, NaiveDate, Utc};
use orderly_domain::settlement::{FeeSchedule, LedgerKind};
use orderly_store::ledger::LedgerRow;
use orderly_store::{Pool, StoreError, merchants};
use uuid::Uuid;

pub const MERCHANT_COUNT: usize = 100;
/// Rows per COPY: big enough for COPY's speed, small enough to show progress.
pub const BATCH: u64 = 100_000;

/// The seed merchants (created with the default fee schedule when absent), in a stable order.
pub async fn merchants(pool: &Pool) -> Result<Vec<Uuid>, StoreError> {
    let client = pool.get().await?;
    let mut ids = Vec::with_capacity(MERCHANT_COUNT);
    for n in 1..=MERCHANT_COUNT {
        let name = format!("Seed merchant {n:03}");
        let merchant = match merchants::find_by_name(&client, &name).await? {
            Some(existing) => existing,
            None => merchants::insert(
                &client,
                orderly_domain::new_id(),
                &name,
                FeeSchedule::DEFAULT,
                // One in ten on the enterprise plan, so analytics by plan have both kinds to compare.
                if n % 10 == 0 {
                    orderly_domain::merchants::Plan::Enterprise
                } else {
                    orderly_domain::merchants::Plan::Standard
                },
            )
            .await?
            .expect("the name was free a moment ago"),
        };
        ids.push(merchant.id);
    }
    Ok(ids)
}

/// Writes transactions `0..count` of the ledger over `month`, `BATCH` rows per `COPY`, and returns how
/// many were new; `on_batch` hears how many each batch covered. Ends with `ledger::after_bulk_load`.
pub async fn fill(
    client: &mut tokio_postgres::Client,
    count: u64,
    month: NaiveDate,
    merchants: &[Uuid],
    mut on_batch: impl FnMut(u64),
) -> Result<u64, StoreError> {
    let mut added = 0;
    let mut next = 0;
    while next < count {
        let end = (next + BATCH).min(count);
        let rows: Vec<_> = (next..end)
            .map(|i| transaction(i, month, merchants))
            .collect();
        added += orderly_store::ledger::bulk_insert(client, &rows).await?;
        on_batch(end - next);
        next = end;
    }
    orderly_store::ledger::after_bulk_load(client).await?;
    Ok(added)
}

/// Transaction `index` of a ledger over `month` (its first day) for `merchants`.
pub fn transaction(index: u64, month: NaiveDate, merchants: &[Uuid]) -> LedgerRow {
    // Ids from fixed namespaces and the index: the same row every run.
    const PAYMENTS: u128 = 0x5eed_0000_0000_7000_8000_0000_0000_0000;
    const ORDERS: u128 = 0x5eed_0001_0000_7000_8000_0000_0000_0000;
    let days = days_in(month);
    let day = month + Days::new(index % days);
    let second = (index.wrapping_mul(7_919)) % 86_400;
    let occurred_at: DateTime<Utc> = day.and_hms_opt(0, 0, 0).expect("midnight").and_utc()
        + chrono::Duration::seconds(second as i64);
    let merchant_id = merchants[(index % merchants.len() as u64) as usize];
    let amount = 100 + (index.wrapping_mul(104_729) % 50_000) as i64;
    let refund = index % 40 == 39;
    LedgerRow {
        merchant_id,
        payment_id: Uuid::from_u128(PAYMENTS + u128::from(index)),
        order_id: Uuid::from_u128(ORDERS + u128::from(index)),
        kind: if refund {
            LedgerKind::Refund
        } else {
            LedgerKind::Capture
        },
        occurred_at,
        gross_cents: if refund { -amount } else { amount },
        fee_cents: if refund {
            0
        } else {
            FeeSchedule::DEFAULT.fee(amount)
        },
        currency: "EUR".into(),
    }
}

fn days_in(month: NaiveDate) -> u64 {
    let next = month
        .checked_add_months(chrono::Months::new(1))
        .expect("a month after");
    (next - month).num_days() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ledger_is_a_pure_function_of_the_index_within_the_month() {
        let month = NaiveDate::from_ymd_opt(2026, 2, 1).unwrap();
        let merchants: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let a = transaction(41, month, &merchants);
        let b = transaction(41, month, &merchants);
        assert_eq!(
            (a.payment_id, a.occurred_at, a.gross_cents),
            (b.payment_id, b.occurred_at, b.gross_cents)
        );
        assert_ne!(transaction(42, month, &merchants).payment_id, a.payment_id);
        for i in 0..1_000 {
            let row = transaction(i, month, &merchants);
            assert_eq!(row.occurred_at.format("%Y-%m").to_string(), "2026-02");
            match row.kind {
                LedgerKind::Capture => {
                    assert!(row.gross_cents > 0);
                    assert_eq!(row.fee_cents, FeeSchedule::DEFAULT.fee(row.gross_cents));
                }
                LedgerKind::Refund => assert!(row.gross_cents < 0 && row.fee_cents == 0),
            }
        }
        assert_eq!(transaction(39, month, &merchants).kind, LedgerKind::Refund);
    }
}

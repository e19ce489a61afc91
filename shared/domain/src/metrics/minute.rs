//! One minute's aggregates, by merchant and then event type, so an event finds its series by reference
//! under the processor's lock: no key is built and nothing is allocated unless the minute opens a series.

use std::collections::HashMap;

use uuid::Uuid;

use super::{Aggregate, Refused, Series};

#[derive(Default)]
pub(super) struct Minute {
    by_merchant: HashMap<Uuid, HashMap<String, Aggregate>>,
    series: usize,
}

impl Minute {
    /// The series' aggregate, opened when the minute holds fewer than `cap` series.
    pub(super) fn aggregate(
        &mut self,
        merchant: Uuid,
        event_type: &str,
        cap: usize,
    ) -> Result<&mut Aggregate, Refused> {
        let types = self.by_merchant.entry(merchant).or_default();
        if !types.contains_key(event_type) {
            if self.series >= cap {
                return Err(Refused::TooManySeries(cap));
            }
            types.insert(event_type.to_owned(), Aggregate::default());
            self.series += 1;
        }
        Ok(types
            .get_mut(event_type)
            .expect("the series is there: found or just opened"))
    }

    pub(super) fn get(&self, key: &Series) -> Option<&Aggregate> {
        self.by_merchant
            .get(&key.merchant_id)?
            .get(key.event_type.as_str())
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (Series, &Aggregate)> {
        self.by_merchant.iter().flat_map(|(merchant, types)| {
            types.iter().map(|(event_type, aggregate)| {
                (
                    Series {
                        merchant_id: *merchant,
                        event_type: event_type.clone(),
                    },
                    aggregate,
                )
            })
        })
    }

    pub(super) fn into_parts(self) -> impl Iterator<Item = (Series, Aggregate)> {
        self.by_merchant.into_iter().flat_map(|(merchant, types)| {
            types.into_iter().map(move |(event_type, aggregate)| {
                (
                    Series {
                        merchant_id: merchant,
                        event_type,
                    },
                    aggregate,
                )
            })
        })
    }
}

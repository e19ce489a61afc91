//! One series' aggregate over a minute (or several merged): count, sum, min, max and a DDSketch of the
//! values. It is stored as it is kept in memory, the sketch in DataDog's own binary encoding (the one
//! `sketches-java` and the agents read), so a minute rolled up by one instance merges exactly with
//! another's.

use serde::Serialize;
use sketches_ddsketch::{Config, DDSketch};
use thiserror::Error;

/// The most a reported percentile differs from the true one, relative to it (1 %).
pub const RELATIVE_ERROR: f64 = 0.01;

/// The sketch configuration every aggregate uses: 1 % relative error, at most 2,048 bins (values over
/// nine orders of magnitude before the smallest are merged). It is the crate's default, which is also
/// what its decoder assumes, so a stored sketch comes back mergeable with a fresh one.
fn config() -> Config {
    Config::defaults()
}

#[derive(Clone)]
pub struct Aggregate {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    sketch: DDSketch,
}

/// A stored aggregate that cannot be read back.
#[derive(Debug, Error)]
pub enum Unreadable {
    #[error("the sketch is not a DDSketch encoding: {0}")]
    Encoding(String),
    #[error("the sketch was made with another accuracy than {RELATIVE_ERROR}")]
    OtherAccuracy,
}

impl Default for Aggregate {
    fn default() -> Self {
        Self {
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            sketch: DDSketch::new(config()),
        }
    }
}

impl Aggregate {
    pub(super) fn add(&mut self, value: f64) {
        self.count += 1;
        self.sum += value;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        self.sketch.add(value);
    }

    pub fn merge(&mut self, other: &Aggregate) {
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        // Every sketch has the one config above (`from_stored` refuses others), so this cannot fail.
        let _ = self.sketch.merge(&other.sketch);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn sum(&self) -> f64 {
        self.sum
    }

    pub fn min(&self) -> f64 {
        self.min
    }

    pub fn max(&self) -> f64 {
        self.max
    }

    /// The sketch in DataDog's binary encoding.
    pub fn sketch_bytes(&self) -> Vec<u8> {
        self.sketch.to_java_bytes()
    }

    /// An aggregate as the store keeps it. Count, sum, min and max are kept exactly beside the sketch
    /// (the encoding carries the count as a double).
    pub fn from_stored(
        count: u64,
        sum: f64,
        min: f64,
        max: f64,
        sketch: &[u8],
    ) -> Result<Self, Unreadable> {
        let sketch =
            DDSketch::from_java_bytes(sketch).map_err(|e| Unreadable::Encoding(e.to_string()))?;
        // A sketch merges only with one of the same mapping: trying it on an empty one of ours is the
        // public way to compare.
        if DDSketch::new(config()).merge(&sketch).is_err() {
            return Err(Unreadable::OtherAccuracy);
        }
        Ok(Self {
            count,
            sum,
            min,
            max,
            sketch,
        })
    }

    pub fn summary(&self) -> Summary {
        let quantile = |q| self.sketch.quantile(q).ok().flatten().unwrap_or(0.0);
        let empty = self.count == 0;
        Summary {
            count: self.count,
            sum: self.sum,
            avg: if empty {
                0.0
            } else {
                self.sum / self.count as f64
            },
            min: if empty { 0.0 } else { self.min },
            max: if empty { 0.0 } else { self.max },
            p50: quantile(0.5),
            p95: quantile(0.95),
            p99: quantile(0.99),
        }
    }
}

/// What the API reports for a series over a span of minutes.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Summary {
    pub count: u64,
    pub sum: f64,
    pub avg: f64,
    pub min: f64,
    pub max: f64,
    /// Within `RELATIVE_ERROR` (1 %) of the true median.
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(values: impl IntoIterator<Item = f64>) -> Aggregate {
        let mut aggregate = Aggregate::default();
        for v in values {
            aggregate.add(v);
        }
        aggregate
    }

    #[test]
    fn a_stored_aggregate_reads_back_and_merges_like_the_original() {
        let first = of((1..=500).map(f64::from));
        let second = of((501..=1_000).map(f64::from).chain([-3.5, 0.0]));
        let stored = |a: &Aggregate| {
            Aggregate::from_stored(a.count(), a.sum(), a.min(), a.max(), &a.sketch_bytes()).unwrap()
        };

        let mut in_memory = first.clone();
        in_memory.merge(&second);
        let mut read_back = stored(&first);
        read_back.merge(&stored(&second));

        assert_eq!(read_back.summary(), in_memory.summary());
        assert_eq!(read_back.summary().count, 1_002);
        assert_eq!(read_back.summary().min, -3.5);
    }

    #[test]
    fn bytes_that_are_not_a_sketch_are_refused() {
        assert!(Aggregate::from_stored(1, 1.0, 1.0, 1.0, &[0xff, 0x00, 0x13]).is_err());
        assert!(Aggregate::from_stored(1, 1.0, 1.0, 1.0, &[]).is_err());
    }

    #[test]
    fn a_sketch_of_another_accuracy_is_refused() {
        let mut coarse = DDSketch::new(Config::new(0.05, 2_048, 1.0e-9));
        coarse.add(10.0);
        assert!(matches!(
            Aggregate::from_stored(1, 10.0, 10.0, 10.0, &coarse.to_java_bytes()),
            Err(Unreadable::OtherAccuracy)
        ));
    }
}

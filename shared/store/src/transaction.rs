//! A transaction that can send its `COMMIT` in the same flight as its last statements, so that the rows
//! those statements lock are released without waiting for the client to read their answer first
//! (docs/adr/0024-placement-commits-in-one-flight.md). `deadpool_postgres::Transaction` cannot:
//! its `commit` takes it by value, so nothing borrowed from it can be in flight, and dropping it after a
//! `COMMIT` sent by hand sends a stray `ROLLBACK`.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use deadpool_postgres::Object;

use crate::StoreError;

pub struct Transaction {
    client: Option<Object>,
    /// How it begins (`BEGIN` and maybe `SET LOCAL …`), until that is sent.
    begin: &'static str,
    begun: AtomicBool,
    finished: AtomicBool,
}

impl Transaction {
    pub async fn begin(client: Object) -> Result<Self, StoreError> {
        Self::begin_with(client, "BEGIN").await
    }

    /// Begins with `begin`: `BEGIN` and, in the same round trip, settings for this transaction alone
    /// (`SET LOCAL …`).
    pub async fn begin_with(client: Object, begin: &'static str) -> Result<Self, StoreError> {
        let tx = Self::not_begun(client, begin);
        tx.begin_along(async { Ok::<_, StoreError>(()) }).await?;
        Ok(tx)
    }

    /// A transaction whose `begin` is not sent yet: `begin_along` sends it in the same flight as the
    /// transaction's first statements, which saves the round trip a `BEGIN` on its own costs. Built
    /// before anything is sent, so that a caller cancelled meanwhile still rolls it back.
    pub fn not_begun(client: Object, begin: &'static str) -> Self {
        Self {
            client: Some(client),
            begin,
            begun: AtomicBool::new(false),
            finished: AtomicBool::new(false),
        }
    }

    /// Sends the transaction's `begin`, then what `first` sends when first polled, without waiting in
    /// between (as with `commit_after`, `first` must send its statements on its first poll, so that
    /// they follow the `BEGIN` on the wire); returns `first`'s answer. A `BEGIN` that failed (the
    /// connection broke) is the error, whatever `first` returned.
    pub async fn begin_along<T, E: From<StoreError>>(
        &self,
        first: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let again = self.begun.swap(true, Ordering::AcqRel);
        assert!(!again, "a transaction begins once");
        // `join` polls in order: the `BEGIN` is queued on the connection before `first`'s statements.
        let (begun, value) =
            futures::future::join(self.client().batch_execute(self.begin), first).await;
        begun.map_err(StoreError::from)?;
        value
    }

    /// The connection, for the transaction's statements.
    pub fn client(&self) -> &Object {
        self.client
            .as_ref()
            .expect("a transaction holds its connection until dropped")
    }

    pub async fn commit(&self) -> Result<(), StoreError> {
        self.commit_after(async { Ok(()) }).await
    }

    /// Sends `COMMIT` right behind what `last` sends and waits for both. `last` must send all its
    /// statements when first polled: statements prepared before, nothing awaited ahead of them
    /// (`tokio-postgres` sends a request on its future's first poll). When one of them fails, Postgres
    /// answers the `COMMIT` with a rollback: nothing of the transaction stays, and `last`'s error is
    /// returned.
    pub async fn commit_after<T>(
        &self,
        last: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        // `join` polls in order: `last`'s statements are queued on the connection before the `COMMIT`.
        let (result, committed) =
            futures::future::join(last, self.client().batch_execute("COMMIT")).await;
        self.finished.store(true, Ordering::Release);
        let value = result?;
        committed?;
        Ok(value)
    }
}

impl Drop for Transaction {
    /// Not committed (an early return, an error, a cancelled request): rolled back before the
    /// connection goes back to the pool, or, without a runtime to send that, closed, which ends the
    /// transaction too.
    fn drop(&mut self) {
        if self.finished.load(Ordering::Acquire) {
            return;
        }
        let Some(client) = self.client.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if client.batch_execute("ROLLBACK").await.is_err() {
                        drop(Object::take(client));
                    }
                });
            }
            Err(_) => drop(Object::take(client)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::fresh_database;

    async fn count(db: &crate::testing::TestDatabase) -> i64 {
        db.pool
            .get()
            .await
            .unwrap()
            .query_one("SELECT count(*) FROM t", &[])
            .await
            .unwrap()
            .get(0)
    }

    /// A fresh database with a table `t` of unique numbers.
    async fn with_table() -> crate::testing::TestDatabase {
        let db = fresh_database().await;
        db.pool
            .get()
            .await
            .unwrap()
            .batch_execute("CREATE TABLE t (n int PRIMARY KEY)")
            .await
            .unwrap();
        db
    }

    /// The first statements sent along with the `BEGIN` run inside the transaction, under its settings.
    #[tokio::test]
    async fn statements_sent_along_with_the_begin_are_inside_the_transaction() {
        let db = with_table().await;
        let begin = "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan";
        for commit in [false, true] {
            let tx = Transaction::not_begun(db.pool.get().await.unwrap(), begin);
            let client = tx.client();
            // Run outside the transaction, the insert would outlive the dropped one and the committed
            // one's would fail on the key; and a `SET LOCAL` outside one changes nothing.
            let setting = tx
                .begin_along(async {
                    client.execute("INSERT INTO t VALUES (1)", &[]).await?;
                    let row = client
                        .query_one("SELECT current_setting('plan_cache_mode')", &[])
                        .await?;
                    Ok::<_, StoreError>(row.get::<_, String>(0))
                })
                .await
                .unwrap();
            assert_eq!(setting, "force_generic_plan");
            if commit {
                tx.commit().await.unwrap();
            }
        }
        assert_eq!(
            count(&db).await,
            1,
            "the dropped one kept nothing, the committed one its row"
        );
    }

    #[tokio::test]
    async fn commit_after_keeps_everything_or_nothing_and_a_dropped_one_rolls_back() {
        let db = with_table().await;
        let insert = "INSERT INTO t VALUES ($1)";

        let tx = Transaction::begin(db.pool.get().await.unwrap())
            .await
            .unwrap();
        tx.client().execute(insert, &[&1]).await.unwrap();
        let statement = tx.client().prepare_cached(insert).await.unwrap();
        let inserted = tx
            .commit_after(async { Ok(tx.client().execute(&statement, &[&2]).await?) })
            .await
            .unwrap();
        assert_eq!(inserted, 1);
        assert_eq!(count(&db).await, 2, "both rows committed");

        let tx = Transaction::begin(db.pool.get().await.unwrap())
            .await
            .unwrap();
        tx.client().execute(insert, &[&3]).await.unwrap();
        let statement = tx.client().prepare_cached(insert).await.unwrap();
        let duplicate = tx
            .commit_after(async { Ok(tx.client().execute(&statement, &[&1]).await?) })
            .await;
        assert!(duplicate.is_err(), "the failing statement's error");
        assert_eq!(count(&db).await, 2, "row 3 rolled back with it");

        {
            let tx = Transaction::begin(db.pool.get().await.unwrap())
                .await
                .unwrap();
            tx.client().execute(insert, &[&4]).await.unwrap();
        }
        assert_eq!(count(&db).await, 2, "a dropped transaction keeps nothing");
        // Its connection went back to the pool rolled back: every connection is outside a transaction.
        let client = db.pool.get().await.unwrap();
        client.execute(insert, &[&5]).await.unwrap();
        drop(client);
        assert_eq!(
            count(&db).await,
            3,
            "a statement after it commits on its own"
        );
    }
}

//! For service tests: an instance state over a fresh test database, with no AWS behind it (events stay in
//! the outbox: `OUTBOX_PUBLISH=sweeper`).

use orderly_domain::access::Principal;
use orderly_domain::users::Role;
use orderly_store::testing::TestDatabase;
use uuid::Uuid;

use crate::services::Caller;
use crate::{Config, State};

pub async fn state(db: &TestDatabase) -> &'static State {
    let url = db.url.clone();
    let config = Config::from_lookup(|key| {
        Some(match key {
            "DATABASE_URL" => url.clone(),
            "OUTBOX_PUBLISH" => "sweeper".to_owned(),
            "ORDER_EVENTS_TOPIC_ARN" | "ARTIFACTS_BUCKET" | "WEBSOCKET_MANAGEMENT_ENDPOINT" => {
                "unused".to_owned()
            }
            _ => return None,
        })
    })
    .expect("a complete configuration");
    State::new(config).await.expect("a state").leak()
}

pub fn customer(id: Uuid) -> Caller {
    Caller {
        principal: Some(Principal::User {
            id,
            role: Role::Customer,
            session: Uuid::now_v7(),
        }),
        request_id: "test".into(),
        source_ip: "198.51.100.1".into(),
    }
}

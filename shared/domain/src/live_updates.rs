//! What a WebSocket client may follow, and which followers an event reaches.

use serde::Deserialize;
use thiserror::Error;
use uuid::Uuid;

use crate::events::Event;

/// How many topics one connection may follow: bounds the fan-out row and the GIN index entry.
pub const MAX_TOPICS_PER_CONNECTION: usize = 50;

/// A followable stream of live updates. Its text form is what clients send and what is stored.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Every order of the connected user.
    MyOrders,
    Order(Uuid),
    /// Every background job the connected user started.
    MyJobs,
    Job(Uuid),
    Inventory(Uuid),
    Group(String),
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum TopicError {
    #[error(
        "unknown topic `{0}`: expected orders, order:<id>, jobs, job:<id>, inventory:<product_id> or group:<id>"
    )]
    Unknown(String),
    #[error("`{0}` does not name a valid id")]
    BadId(String),
    #[error("at most {MAX_TOPICS_PER_CONNECTION} topics per connection")]
    TooMany,
}

impl Topic {
    pub fn parse(text: &str) -> Result<Self, TopicError> {
        let id = |rest: &str| {
            rest.parse::<Uuid>()
                .map_err(|_| TopicError::BadId(text.to_owned()))
        };
        match text.split_once(':') {
            None if text == "orders" => Ok(Topic::MyOrders),
            None if text == "jobs" => Ok(Topic::MyJobs),
            Some(("order", rest)) => id(rest).map(Topic::Order),
            Some(("job", rest)) => id(rest).map(Topic::Job),
            Some(("inventory", rest)) => id(rest).map(Topic::Inventory),
            Some(("group", rest))
                if (1..=64).contains(&rest.len())
                    && rest
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
            {
                Ok(Topic::Group(rest.to_owned()))
            }
            Some(("group", _)) => Err(TopicError::BadId(text.to_owned())),
            _ => Err(TopicError::Unknown(text.to_owned())),
        }
    }

    pub fn as_text(&self) -> String {
        match self {
            Topic::MyOrders => "orders".to_owned(),
            Topic::Order(id) => format!("order:{id}"),
            Topic::MyJobs => "jobs".to_owned(),
            Topic::Job(id) => format!("job:{id}"),
            Topic::Inventory(id) => format!("inventory:{id}"),
            Topic::Group(id) => format!("group:{id}"),
        }
    }
}

/// Parses a client's topic list, deduplicated, in the order given.
pub fn parse_topics(texts: &[String]) -> Result<Vec<Topic>, TopicError> {
    if texts.len() > MAX_TOPICS_PER_CONNECTION {
        return Err(TopicError::TooMany);
    }
    let mut topics: Vec<Topic> = Vec::with_capacity(texts.len());
    for text in texts {
        let topic = Topic::parse(text)?;
        if !topics.contains(&topic) {
            topics.push(topic);
        }
    }
    Ok(topics)
}

/// What the store says about the subject a topic names: the owner of the order an `order:` topic names
/// (`None` when there is no such order), whether the user is in the group a `group:` topic names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Standing {
    pub order_owner: Option<Uuid>,
    pub group_member: bool,
}

impl Standing {
    pub fn owner(order_owner: Uuid) -> Self {
        Self {
            order_owner: Some(order_owner),
            ..Self::default()
        }
    }
}

/// Whether a user may follow a topic. Inventory streams are public to signed-in users; an order is its
/// owner's, a group its members' (admins may follow any); a job is an admin's, as every job route is.
pub fn may_follow(topic: &Topic, user: Uuid, is_admin: bool, standing: &Standing) -> bool {
    match topic {
        Topic::MyOrders | Topic::MyJobs | Topic::Inventory(_) => true,
        Topic::Order(_) => is_admin || standing.order_owner == Some(user),
        Topic::Group(_) => is_admin || standing.group_member,
        Topic::Job(_) => is_admin,
    }
}

/// A message a client sends on the socket; API Gateway routes on `action`.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum ClientMessage {
    Subscribe {
        topics: Vec<String>,
    },
    Unsubscribe {
        topics: Vec<String>,
    },
    Ping,
    /// Carries the connection over to a fresh access token (a ticket asked for with it) before the one it
    /// was opened with expires.
    Renew {
        ticket: String,
    },
}

/// Who an event reaches: connections following any of these topics (stored text form), plus those of
/// the event's user that follow their own stream of that kind (`orders` or `jobs`), matched per user
/// rather than by text.
#[derive(Debug, PartialEq, Eq)]
pub struct Audience {
    pub topics: Vec<String>,
    /// The user, and the text of their own stream.
    pub owner: (Uuid, String),
}

pub fn audience_of(event: &Event) -> Audience {
    let (kind, id, owner) = event.subject();
    let (topic, stream) = match event.order() {
        Some(_) => (Topic::Order(id), Topic::MyOrders),
        None => {
            debug_assert_eq!(kind, "job", "only jobs are followed besides orders");
            (Topic::Job(id), Topic::MyJobs)
        }
    };
    Audience {
        topics: vec![topic.as_text()],
        owner: (owner, stream.as_text()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_every_topic_kind_and_round_trips() {
        let id = Uuid::now_v7();
        for text in [
            "orders".to_owned(),
            format!("order:{id}"),
            format!("inventory:{id}"),
            "jobs".to_owned(),
            format!("job:{id}"),
            "group:vip-1".to_owned(),
        ] {
            assert_eq!(Topic::parse(&text).unwrap().as_text(), text);
        }
    }

    #[test]
    fn rejects_unknown_topics_and_bad_ids() {
        assert_eq!(
            Topic::parse("payments"),
            Err(TopicError::Unknown("payments".into()))
        );
        assert_eq!(
            Topic::parse("order:42"),
            Err(TopicError::BadId("order:42".into()))
        );
        assert_eq!(
            Topic::parse("group:"),
            Err(TopicError::BadId("group:".into()))
        );
        assert_eq!(
            Topic::parse("group:a b"),
            Err(TopicError::BadId("group:a b".into()))
        );
    }

    #[test]
    fn topic_lists_are_bounded_and_deduplicated() {
        let many: Vec<String> = (0..=MAX_TOPICS_PER_CONNECTION)
            .map(|_| "orders".to_owned())
            .collect();
        assert_eq!(parse_topics(&many), Err(TopicError::TooMany));
        let twice = vec!["orders".to_owned(), "orders".to_owned()];
        assert_eq!(parse_topics(&twice).unwrap(), vec![Topic::MyOrders]);
    }

    #[test]
    fn client_messages_are_routed_by_action() {
        let subscribe: ClientMessage =
            serde_json::from_value(json!({"action":"subscribe","topics":["orders"]})).unwrap();
        assert_eq!(
            subscribe,
            ClientMessage::Subscribe {
                topics: vec!["orders".into()]
            }
        );
        assert_eq!(
            serde_json::from_value::<ClientMessage>(json!({"action":"ping"})).unwrap(),
            ClientMessage::Ping
        );
        assert!(serde_json::from_value::<ClientMessage>(json!({"action":"shout"})).is_err());
    }

    #[test]
    fn an_order_event_reaches_the_order_and_its_owner() {
        let (order, user) = (Uuid::now_v7(), Uuid::now_v7());
        let event = Event::order_changed(crate::events::OrderChanged {
            order_id: order,
            user_id: user,
            status: crate::orders::OrderStatus::Paid,
            previous_status: crate::orders::OrderStatus::PendingPayment,
            total_cents: 1,
            currency: "EUR".into(),
        });
        assert_eq!(
            audience_of(&event),
            Audience {
                topics: vec![format!("order:{order}")],
                owner: (user, "orders".into())
            }
        );
    }

    #[test]
    fn a_job_event_reaches_the_job_and_the_admin_who_started_it() {
        let (job, admin) = (Uuid::now_v7(), Uuid::now_v7());
        let event = Event::JobRequested(crate::events::JobRequested {
            job_id: job,
            kind: crate::jobs::JobKind::Settlement,
            requested_by: admin,
        });
        assert_eq!(
            audience_of(&event),
            Audience {
                topics: vec![format!("job:{job}")],
                owner: (admin, "jobs".into())
            }
        );
        assert_eq!(Topic::parse("jobs").unwrap(), Topic::MyJobs);
        assert!(!may_follow(
            &Topic::Job(job),
            admin,
            false,
            &Standing::default()
        ));
        assert!(may_follow(
            &Topic::Job(job),
            admin,
            true,
            &Standing::default()
        ));
    }

    #[test]
    fn only_owners_and_admins_follow_an_order() {
        let (me, other, order) = (Uuid::now_v7(), Uuid::now_v7(), Topic::Order(Uuid::now_v7()));
        assert!(may_follow(&order, me, false, &Standing::owner(me)));
        assert!(!may_follow(&order, me, false, &Standing::owner(other)));
        assert!(
            !may_follow(&order, me, false, &Standing::default()),
            "an order that does not exist is nobody's"
        );
        assert!(may_follow(&order, me, true, &Standing::owner(other)));
        assert!(may_follow(
            &Topic::MyOrders,
            me,
            false,
            &Standing::default()
        ));
        let group = Topic::Group(Uuid::now_v7().to_string());
        assert!(!may_follow(&group, me, false, &Standing::default()));
        let member = Standing {
            group_member: true,
            ..Standing::default()
        };
        assert!(
            may_follow(&group, me, false, &member),
            "members follow their group"
        );
        assert!(
            may_follow(&group, me, true, &Standing::default()),
            "admins any"
        );
        assert!(may_follow(
            &Topic::Inventory(Uuid::now_v7()),
            me,
            false,
            &Standing::default()
        ));
    }
}

//! Creates the template's queues (with redrive), topics, filtered subscriptions and buckets in the AWS
//! emulator through the real SDK, and records what `Ref`/`Fn::GetAtt` of each return. Resource names are
//! the logical ids, so tests and people can find them.

use std::collections::HashMap;

use aws_config::SdkConfig;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;

use crate::resolve::{ACCOUNT_ID, Physical, Resolver};
use crate::template::Template;

#[derive(Debug, thiserror::Error)]
#[error("provisioning {resource}: {message}")]
pub struct ProvisionError {
    resource: String,
    message: String,
}

fn failed(resource: &str, message: impl std::fmt::Display) -> ProvisionError {
    ProvisionError {
        resource: resource.to_owned(),
        message: message.to_string(),
    }
}

fn sdk_failed<E: std::error::Error>(resource: &str, e: E) -> ProvisionError {
    failed(resource, aws_sdk_sqs::error::DisplayErrorContext(e))
}

pub struct Options {
    /// Replaces every queue's VisibilityTimeout, so redelivery after a failure takes seconds locally.
    pub visibility_timeout: Option<u32>,
    pub stage: String,
}

/// Fills `resolver.physical` for every resource the local stack creates or stands in for.
pub async fn provision(
    sdk: &SdkConfig,
    template: &Template,
    resolver: &mut Resolver,
    options: &Options,
) -> Result<(), ProvisionError> {
    let region = resolver.region.clone();
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let sns = aws_sdk_sns::Client::new(sdk);
    let s3 = orderly_cloud::s3_client(sdk);

    // Stand-ins for what the gateway itself is (APIs, stages, functions, integrations).
    for (id, resource) in &template.resources {
        let reference = match resource.kind.as_str() {
            "AWS::Serverless::Api" | "AWS::ApiGatewayV2::Api" => {
                format!("local{}", id.to_lowercase())
            }
            "AWS::ApiGatewayV2::Stage" => options.stage.clone(),
            _ => id.clone(),
        };
        let mut physical = Physical {
            reference,
            ..Default::default()
        };
        if resource.kind == "AWS::Serverless::Function" {
            physical.attributes.insert(
                "Arn".into(),
                format!("arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{id}"),
            );
        }
        resolver.physical.insert(id.clone(), physical);
    }

    // Queues first (all of them, so redrive targets exist), then their attributes.
    let queues: Vec<(&String, &Value)> = template
        .resources
        .iter()
        .filter(|(_, r)| r.kind == "AWS::SQS::Queue")
        .map(|(id, r)| (id, &r.properties))
        .collect();
    for (id, props) in &queues {
        let fifo = props.get("FifoQueue") == Some(&Value::Bool(true));
        let name = props
            .get("QueueName")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| {
                if fifo {
                    format!("{id}.fifo")
                } else {
                    id.to_string()
                }
            });
        let mut create = sqs.create_queue().queue_name(&name);
        if fifo {
            create = create.attributes(QueueAttributeName::FifoQueue, "true");
        }
        let url = create
            .send()
            .await
            .map_err(|e| sdk_failed(id, e))?
            .queue_url
            .unwrap_or_default();
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| sdk_failed(id, e))?
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .unwrap_or_default();
        let attributes = [("Arn", arn), ("QueueName", name), ("QueueUrl", url.clone())]
            .map(|(k, v)| (k.to_owned(), v))
            .into();
        resolver.physical.insert(
            id.to_string(),
            Physical {
                reference: url,
                attributes,
            },
        );
    }
    for (id, props) in &queues {
        let mut attributes: HashMap<QueueAttributeName, String> = HashMap::new();
        for (key, name) in [
            ("VisibilityTimeout", QueueAttributeName::VisibilityTimeout),
            (
                "MessageRetentionPeriod",
                QueueAttributeName::MessageRetentionPeriod,
            ),
            ("DelaySeconds", QueueAttributeName::DelaySeconds),
            (
                "ContentBasedDeduplication",
                QueueAttributeName::ContentBasedDeduplication,
            ),
        ] {
            if let Some(value) = props.get(key) {
                attributes.insert(name, resolver.resolve(value).map_err(|e| failed(id, e))?);
            }
        }
        if let Some(seconds) = options.visibility_timeout {
            attributes.insert(QueueAttributeName::VisibilityTimeout, seconds.to_string());
        }
        if let Some(redrive) = props.get("RedrivePolicy") {
            let target = redrive
                .get("deadLetterTargetArn")
                .ok_or_else(|| failed(id, "RedrivePolicy has no deadLetterTargetArn"))?;
            let policy = serde_json::json!({
                "deadLetterTargetArn": resolver.resolve(target).map_err(|e| failed(id, e))?,
                "maxReceiveCount": redrive.get("maxReceiveCount").and_then(Value::as_u64).unwrap_or(10),
            });
            attributes.insert(QueueAttributeName::RedrivePolicy, policy.to_string());
        }
        if !attributes.is_empty() {
            sqs.set_queue_attributes()
                .queue_url(&resolver.physical[id.as_str()].reference)
                .set_attributes(Some(attributes))
                .send()
                .await
                .map_err(|e| sdk_failed(id, e))?;
        }
    }

    for (id, resource) in template
        .resources
        .iter()
        .filter(|(_, r)| r.kind == "AWS::SNS::Topic")
    {
        let name = resource
            .properties
            .get("TopicName")
            .and_then(Value::as_str)
            .unwrap_or(id);
        let arn = sns
            .create_topic()
            .name(name)
            .send()
            .await
            .map_err(|e| sdk_failed(id, e))?
            .topic_arn
            .unwrap_or_default();
        let attributes = [
            ("TopicArn".to_owned(), arn.clone()),
            ("TopicName".to_owned(), name.to_owned()),
        ]
        .into();
        resolver.physical.insert(
            id.clone(),
            Physical {
                reference: arn,
                attributes,
            },
        );
    }

    for (id, resource) in template
        .resources
        .iter()
        .filter(|(_, r)| r.kind == "AWS::SNS::Subscription")
    {
        if let Some(condition) = &resource.condition
            && !resolver
                .condition(&template.conditions, condition)
                .map_err(|e| failed(id, e))?
        {
            continue;
        }
        let props = &resource.properties;
        let text = |key: &str| {
            props
                .get(key)
                .map(|v| resolver.resolve(v).map_err(|e| failed(id, e)))
                .transpose()
        };
        let (topic, protocol, endpoint) = (text("TopicArn")?, text("Protocol")?, text("Endpoint")?);
        let mut subscribe = sns
            .subscribe()
            .topic_arn(topic.ok_or_else(|| failed(id, "no TopicArn"))?)
            .protocol(protocol.ok_or_else(|| failed(id, "no Protocol"))?)
            .set_endpoint(endpoint)
            .return_subscription_arn(true);
        if let Some(raw) = props.get("RawMessageDelivery") {
            subscribe =
                subscribe.attributes("RawMessageDelivery", raw.to_string().trim_matches('"'));
        }
        if let Some(policy) = props.get("FilterPolicy") {
            subscribe = subscribe.attributes("FilterPolicy", policy.to_string());
        }
        if let Some(scope) = props.get("FilterPolicyScope").and_then(Value::as_str) {
            subscribe = subscribe.attributes("FilterPolicyScope", scope);
        }
        let arn = subscribe
            .send()
            .await
            .map_err(|e| sdk_failed(id, e))?
            .subscription_arn
            .unwrap_or_default();
        resolver.physical.insert(
            id.clone(),
            Physical {
                reference: arn,
                ..Default::default()
            },
        );
    }

    for (id, resource) in template
        .resources
        .iter()
        .filter(|(_, r)| r.kind == "AWS::S3::Bucket")
    {
        let name = match resource.properties.get("BucketName") {
            Some(name) => resolver.resolve(name).map_err(|e| failed(id, e))?,
            None => format!("{}-{}", crate::resolve::STACK_NAME, id.to_lowercase()),
        };
        match s3.create_bucket().bucket(&name).send().await {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_bucket_already_owned_by_you()) => {}
            Err(e) => return Err(sdk_failed(id, e)),
        }
        let attributes = [
            ("Arn".to_owned(), format!("arn:aws:s3:::{name}")),
            ("DomainName".to_owned(), format!("{name}.s3.amazonaws.com")),
        ]
        .into();
        resolver.physical.insert(
            id.clone(),
            Physical {
                reference: name,
                attributes,
            },
        );
    }
    Ok(())
}

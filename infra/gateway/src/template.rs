//! Reads template.yaml into the topology the local stack runs: functions, REST routes, WebSocket routes,
//! SQS event source mappings and schedules. CloudFormation's short-form tags (`!Ref`, `!GetAtt`, `!Sub`, …)
//! become their long form, so the rest of the gateway sees plain JSON as CloudFormation does.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::{Map, Value, json};
use serde_yaml_ng::Value as Yaml;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum TemplateError {
    #[error("cannot read {0}: {1}")]
    Read(String, std::io::Error),
    #[error("template is not valid YAML: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
    #[error("{resource}: {problem}")]
    Invalid { resource: String, problem: String },
}

fn invalid(resource: &str, problem: impl Into<String>) -> TemplateError {
    TemplateError::Invalid {
        resource: resource.to_owned(),
        problem: problem.into(),
    }
}

/// The parsed template: raw resources (long-form JSON) and what the gateway runs from them.
#[derive(Debug)]
pub struct Template {
    pub parameters: Map<String, Value>,
    /// `Conditions`, by name (long-form intrinsics).
    pub conditions: Map<String, Value>,
    pub resources: BTreeMap<String, Resource>,
    pub functions: BTreeMap<String, FunctionDef>,
    pub rest_routes: Vec<RestRoute>,
    /// The REST API's Lambda authorizers by name.
    pub authorizers: BTreeMap<String, AuthorizerDef>,
    /// The REST API's `GatewayResponses` by type (`UNAUTHORIZED`, `ACCESS_DENIED`, …).
    pub gateway_responses: BTreeMap<String, GatewayResponseDef>,
    pub websocket: Option<WebSocketApi>,
    pub sqs_mappings: Vec<SqsMapping>,
    pub schedules: Vec<ScheduleDef>,
}

#[derive(Debug, Clone)]
pub struct Resource {
    pub kind: String,
    pub properties: Value,
    /// `Metadata`: how SAM builds it (a function's `BuildProperties.Binary`).
    pub metadata: Value,
    /// The name of the condition the resource exists under, if any.
    pub condition: Option<String>,
}

#[derive(Debug, Clone)]
pub struct FunctionDef {
    pub logical_id: String,
    pub handler: String,
    /// The cargo binary SAM builds as the function's `bootstrap` (`Metadata.BuildProperties.Binary`).
    pub binary: String,
    pub timeout: Duration,
    /// Globals' variables overlaid by the function's own, unresolved.
    pub environment: Map<String, Value>,
    /// `ReservedConcurrentExecutions`: the most instances the function ever runs at once.
    pub reserved_concurrency: Option<u32>,
    /// `MemorySize` in MB (Lambda's default 128); process mode hands it to the runtime.
    pub memory_mb: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RestRoute {
    pub method: String,
    /// API Gateway resource path, e.g. `/api/v1/products/{id}`.
    pub path: String,
    pub function: String,
    /// The authorizer guarding the route (`None`: public).
    pub authorizer: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizerDef {
    pub function: String,
    /// Headers that must be present (else 401 without calling the function) and that key the cache.
    pub identity_headers: Vec<String>,
    pub ttl: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GatewayResponseDef {
    pub status: u16,
    pub json_template: Option<String>,
    /// `ResponseParameters.Headers`, their static values unquoted (`"'1'"` → `1`).
    pub headers: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct WebSocketApi {
    pub logical_id: String,
    /// The body field named by `RouteSelectionExpression` (`$request.body.<field>`).
    pub selection_field: String,
    /// Route key (`$connect`, `$default`, `subscribe`, …) → function logical id.
    pub routes: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct SqsMapping {
    pub function: String,
    pub queue: String,
    pub batch_size: i32,
    pub report_batch_item_failures: bool,
    /// `MaximumBatchingWindowInSeconds`: how long receives gather a batch (needed for more than 10).
    pub batching_window_seconds: u32,
    /// `ScalingConfig.MaximumConcurrency`: the most invocations the mapping runs at once.
    pub maximum_concurrency: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct ScheduleDef {
    pub function: String,
    pub name: String,
    pub expression: String,
}

/// Short-form tag → long-form intrinsic, recursively.
fn to_json(yaml: Yaml) -> Value {
    match yaml {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(b),
        Yaml::Number(n) => serde_json::to_value(n).unwrap_or(Value::Null),
        Yaml::String(s) => Value::String(s),
        Yaml::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Yaml::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    (
                        k.as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| format!("{k:?}")),
                        to_json(v),
                    )
                })
                .collect(),
        ),
        Yaml::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let value = to_json(tagged.value);
            match name {
                "Ref" | "Condition" => json!({ name: value }),
                "GetAtt" => match value {
                    Value::String(s) => {
                        let (resource, attribute) = s.split_once('.').unwrap_or((&s, ""));
                        json!({"Fn::GetAtt": [resource, attribute]})
                    }
                    other => json!({"Fn::GetAtt": other}),
                },
                other => json!({ format!("Fn::{other}"): value }),
            }
        }
    }
}

/// Every resource a value refers to: `Ref`, `Fn::GetAtt`, and `${Name}` / `${Name.Attr}` inside `Fn::Sub`.
pub fn referenced_ids(value: &Value) -> Vec<String> {
    let mut ids = Vec::new();
    collect_refs(value, &mut ids);
    ids
}

fn collect_refs(value: &Value, ids: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("Ref", Value::String(id)) => ids.push(id.clone()),
                    ("Fn::GetAtt", Value::Array(parts)) => {
                        ids.extend(parts.first().and_then(Value::as_str).map(str::to_owned));
                    }
                    ("Fn::Sub", Value::String(text)) => ids.extend(
                        sub_names(text).map(|n| n.split('.').next().unwrap_or(n).to_owned()),
                    ),
                    _ => collect_refs(inner, ids),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, ids)),
        _ => {}
    }
}

/// The `${…}` names in a `Fn::Sub` string (`${!Literal}` is an escape, not a name).
pub fn sub_names(text: &str) -> impl Iterator<Item = &str> {
    text.split("${")
        .skip(1)
        .filter_map(|part| part.split_once('}').map(|(name, _)| name))
        .filter(|n| !n.starts_with('!'))
}

impl Template {
    pub fn load(path: &Path) -> Result<Self, TemplateError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| TemplateError::Read(path.display().to_string(), e))?;
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let mut yaml: Yaml = serde_yaml_ng::from_str(text)?;
        yaml.apply_merge()?;
        let root = to_json(yaml);
        let parameters = root
            .get("Parameters")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let globals = root
            .pointer("/Globals/Function")
            .cloned()
            .unwrap_or(json!({}));
        let mut resources = BTreeMap::new();
        for (id, body) in root
            .get("Resources")
            .and_then(Value::as_object)
            .ok_or_else(|| invalid("Resources", "missing"))?
        {
            let kind = body
                .get("Type")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(id, "has no Type"))?;
            let properties = body.get("Properties").cloned().unwrap_or(json!({}));
            let condition = body
                .get("Condition")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let metadata = body.get("Metadata").cloned().unwrap_or(json!({}));
            resources.insert(
                id.clone(),
                Resource {
                    kind: kind.to_owned(),
                    properties,
                    metadata,
                    condition,
                },
            );
        }

        let conditions = root
            .get("Conditions")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mut template = Template {
            parameters,
            conditions,
            functions: BTreeMap::new(),
            rest_routes: Vec::new(),
            authorizers: BTreeMap::new(),
            gateway_responses: BTreeMap::new(),
            websocket: None,
            sqs_mappings: Vec::new(),
            schedules: Vec::new(),
            resources,
        };
        let default_authorizer = template.read_rest_api()?;
        template.read_functions(&globals, default_authorizer.as_deref())?;
        template.websocket = template.read_websocket()?;
        Ok(template)
    }

    /// Authorizers and gateway responses of the (one) REST API; returns its default authorizer.
    fn read_rest_api(&mut self) -> Result<Option<String>, TemplateError> {
        let Some((api_id, api)) = self
            .resources
            .iter()
            .find(|(_, r)| r.kind == "AWS::Serverless::Api")
        else {
            return Ok(None);
        };
        let auth = api.properties.get("Auth").cloned().unwrap_or(json!({}));
        for (name, def) in auth
            .get("Authorizers")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let context = format!("{api_id}.Auth.Authorizers.{name}");
            if def.get("FunctionPayloadType").and_then(Value::as_str) != Some("REQUEST") {
                return Err(invalid(&context, "only REQUEST authorizers are emulated"));
            }
            let function = def
                .get("FunctionArn")
                .map(referenced_ids)
                .and_then(|ids| ids.into_iter().next())
                .ok_or_else(|| {
                    invalid(
                        &context,
                        "FunctionArn must name a function in this template",
                    )
                })?;
            let identity = def.get("Identity").cloned().unwrap_or(json!({}));
            let identity_headers = identity
                .get("Headers")
                .and_then(Value::as_array)
                .map(|h| {
                    h.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_ascii_lowercase)
                        .collect()
                })
                .unwrap_or_default();
            let ttl = Duration::from_secs(
                identity
                    .get("ReauthorizeEvery")
                    .and_then(Value::as_u64)
                    .unwrap_or(300),
            );
            self.authorizers.insert(
                name.clone(),
                AuthorizerDef {
                    function,
                    identity_headers,
                    ttl,
                },
            );
        }
        for (kind, def) in api
            .properties
            .get("GatewayResponses")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let status = def
                .get("StatusCode")
                .and_then(|s| s.as_u64().or_else(|| s.as_str()?.parse().ok()))
                .unwrap_or(500) as u16;
            let json_template = def
                .pointer("/ResponseTemplates/application~1json")
                .and_then(Value::as_str)
                .map(str::to_owned);
            // Only static values ('…'); a mapping expression (method.request.header.x) has no local source.
            let headers = def
                .pointer("/ResponseParameters/Headers")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .filter_map(|(name, value)| {
                    let value = value.as_str()?.strip_prefix('\'')?.strip_suffix('\'')?;
                    Some((name.to_ascii_lowercase(), value.to_owned()))
                })
                .collect();
            self.gateway_responses.insert(
                kind.clone(),
                GatewayResponseDef {
                    status,
                    json_template,
                    headers,
                },
            );
        }
        Ok(auth
            .get("DefaultAuthorizer")
            .and_then(Value::as_str)
            .map(str::to_owned))
    }

    fn read_functions(
        &mut self,
        globals: &Value,
        default_authorizer: Option<&str>,
    ) -> Result<(), TemplateError> {
        for (id, resource) in &self.resources {
            if resource.kind != "AWS::Serverless::Function" {
                continue;
            }
            let props = &resource.properties;
            let setting = |name: &str| props.get(name).or_else(|| globals.get(name));
            let handler = setting("Handler")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(id, "has no Handler"))?;
            let binary = resource
                .metadata
                .pointer("/BuildProperties/Binary")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(id, "has no Metadata.BuildProperties.Binary"))?;
            let timeout = setting("Timeout").and_then(Value::as_u64).unwrap_or(3);
            let mut environment = globals
                .pointer("/Environment/Variables")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            if let Some(own) = props
                .pointer("/Environment/Variables")
                .and_then(Value::as_object)
            {
                environment.extend(own.clone());
            }
            self.functions.insert(
                id.clone(),
                FunctionDef {
                    logical_id: id.clone(),
                    handler: handler.to_owned(),
                    binary: binary.to_owned(),
                    timeout: Duration::from_secs(timeout),
                    environment,
                    reserved_concurrency: setting("ReservedConcurrentExecutions")
                        .and_then(Value::as_u64)
                        .map(|n| n as u32),
                    memory_mb: setting("MemorySize").and_then(Value::as_u64).unwrap_or(128),
                },
            );

            for (event_name, event) in props
                .get("Events")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                let kind = event
                    .get("Type")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let ep = event.get("Properties").cloned().unwrap_or(json!({}));
                let text = |name: &str| ep.get(name).and_then(Value::as_str).map(str::to_owned);
                let context = format!("{id}.Events.{event_name}");
                match kind {
                    "Api" => {
                        let authorizer =
                            match ep.pointer("/Auth/Authorizer").and_then(Value::as_str) {
                                Some("NONE") => None,
                                Some(name) => Some(name.to_owned()),
                                None => default_authorizer.map(str::to_owned),
                            };
                        if let Some(name) = &authorizer
                            && !self.authorizers.contains_key(name)
                        {
                            return Err(invalid(
                                &context,
                                format!("authorizer {name} is not declared on the API"),
                            ));
                        }
                        self.rest_routes.push(RestRoute {
                            method: text("Method")
                                .ok_or_else(|| invalid(&context, "has no Method"))?
                                .to_uppercase(),
                            path: text("Path").ok_or_else(|| invalid(&context, "has no Path"))?,
                            function: id.clone(),
                            authorizer,
                        })
                    }
                    "SQS" => {
                        let queue = ep
                            .get("Queue")
                            .map(referenced_ids)
                            .and_then(|ids| ids.into_iter().next());
                        let types = ep.get("FunctionResponseTypes").and_then(Value::as_array);
                        self.sqs_mappings.push(SqsMapping {
                            function: id.clone(),
                            queue: queue.ok_or_else(|| {
                                invalid(&context, "Queue must refer to a queue in this template")
                            })?,
                            batch_size: ep.get("BatchSize").and_then(Value::as_i64).unwrap_or(10)
                                as i32,
                            report_batch_item_failures: types
                                .is_some_and(|t| t.iter().any(|v| v == "ReportBatchItemFailures")),
                            batching_window_seconds: ep
                                .get("MaximumBatchingWindowInSeconds")
                                .and_then(Value::as_u64)
                                .unwrap_or(0)
                                as u32,
                            maximum_concurrency: ep
                                .pointer("/ScalingConfig/MaximumConcurrency")
                                .and_then(Value::as_u64)
                                .map(|n| n as u32),
                        });
                    }
                    "Schedule" | "ScheduleV2" => self.schedules.push(ScheduleDef {
                        function: id.clone(),
                        name: event_name.clone(),
                        expression: text("Schedule")
                            .or_else(|| text("ScheduleExpression"))
                            .ok_or_else(|| invalid(&context, "has no Schedule"))?,
                    }),
                    other => {
                        tracing::warn!(event = %context, kind = other, "event type not emulated locally")
                    }
                }
            }
        }
        Ok(())
    }

    fn of_kind<'a>(&'a self, ids: Vec<String>, kind: &'a str) -> impl Iterator<Item = String> + 'a {
        ids.into_iter()
            .filter(move |id| self.resources.get(id).is_some_and(|r| r.kind == kind))
    }

    fn read_websocket(&self) -> Result<Option<WebSocketApi>, TemplateError> {
        let Some((api_id, api)) = self.resources.iter().find(|(_, r)| {
            r.kind == "AWS::ApiGatewayV2::Api"
                && r.properties.get("ProtocolType") == Some(&json!("WEBSOCKET"))
        }) else {
            return Ok(None);
        };
        let expression = api
            .properties
            .get("RouteSelectionExpression")
            .and_then(Value::as_str)
            .unwrap_or("$request.body.action");
        let selection_field = expression.strip_prefix("$request.body.").ok_or_else(|| {
            invalid(
                api_id,
                "only $request.body.<field> route selection is emulated",
            )
        })?;
        let mut routes = BTreeMap::new();
        for (route_id, route) in self
            .resources
            .iter()
            .filter(|(_, r)| r.kind == "AWS::ApiGatewayV2::Route")
        {
            if !referenced_ids(route.properties.get("ApiId").unwrap_or(&Value::Null))
                .contains(api_id)
            {
                continue;
            }
            let key = route
                .properties
                .get("RouteKey")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(route_id, "has no RouteKey"))?;
            let target = route
                .properties
                .get("Target")
                .map(referenced_ids)
                .unwrap_or_default();
            let integration = self
                .of_kind(target, "AWS::ApiGatewayV2::Integration")
                .next()
                .ok_or_else(|| {
                    invalid(route_id, "Target must name an integration in this template")
                })?;
            let uri = self.resources[&integration]
                .properties
                .get("IntegrationUri")
                .map(referenced_ids)
                .unwrap_or_default();
            let function = self
                .of_kind(uri, "AWS::Serverless::Function")
                .next()
                .ok_or_else(|| {
                    invalid(
                        &integration,
                        "IntegrationUri must name a function in this template",
                    )
                })?;
            routes.insert(key.to_owned(), function);
        }
        Ok(Some(WebSocketApi {
            logical_id: api_id.clone(),
            selection_field: selection_field.to_owned(),
            routes,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn real_template() -> Template {
        Template::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml"))
            .expect("template.yaml parses")
    }

    #[test]
    fn short_form_tags_become_long_form() {
        let t = Template::parse(
            "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      A: !Ref X\n      B: !GetAtt Y.Arn\n      C: !Sub '${Z.Arn}/x'\n      D: !Join [',', [!Ref P]]\n",
        )
        .unwrap();
        let props = &t.resources["Q"].properties;
        assert_eq!(props["A"], json!({"Ref": "X"}));
        assert_eq!(props["B"], json!({"Fn::GetAtt": ["Y", "Arn"]}));
        assert_eq!(props["C"], json!({"Fn::Sub": "${Z.Arn}/x"}));
        assert_eq!(referenced_ids(props), vec!["X", "Y", "Z", "P"]);
    }

    #[test]
    fn every_function_handler_is_in_the_registry_in_its_binary_and_every_handler_is_deployed() {
        let t = real_template();
        let deployed: Vec<&str> = t.functions.values().map(|f| f.handler.as_str()).collect();
        for handler in &deployed {
            assert!(
                orderly_functions::lookup(handler).is_some(),
                "template names handler `{handler}`, the registry does not"
            );
        }
        for function in t.functions.values() {
            assert_eq!(
                Some(function.binary.as_str()),
                orderly_functions::binary(&function.handler),
                "{} must be built as the binary that links its handler",
                function.logical_id
            );
        }
        for name in orderly_functions::HANDLER_NAMES {
            assert!(
                deployed.contains(name),
                "handler `{name}` is registered but no function in template.yaml runs it"
            );
        }
    }

    #[test]
    fn every_rest_function_guards_itself_as_the_template_and_the_authorizer_policy_say() {
        use orderly_domain::access::{Access, is_admin_only};
        let t = real_template();
        for route in &t.rest_routes {
            let handler = &t.functions[&route.function].handler;
            let what = format!("{} {} ({handler})", route.method, route.path);
            let Some(access) = orderly_functions::access(handler) else {
                // Preflights and the documentation: public, and outside the front door.
                assert!(
                    route.authorizer.is_none(),
                    "{what} is behind the authorizer but not behind the front door"
                );
                continue;
            };
            assert_eq!(
                access == Access::Public,
                route.authorizer.is_none(),
                "{what}: the registry says {access:?}, the template says authorizer {:?}",
                route.authorizer
            );
            assert_eq!(
                access == Access::Admin,
                is_admin_only(&route.method, &route.path),
                "{what}: the registry says {access:?}; the authorizer's policy disagrees on admin-only"
            );
        }
    }

    #[test]
    fn every_function_is_given_exactly_the_secrets_it_needs_by_name_with_the_right_to_read_them() {
        use orderly_functions::Secret;
        let t = real_template();
        // The parameter each secret comes from, and the variable that names it.
        let source = |secret: Secret| match secret {
            Secret::Database => ("DATABASE_SECRET_ARN", "DatabaseSecretArn"),
            Secret::DatabaseOwner => ("DATABASE_SECRET_ARN", "DatabaseOwnerSecretArn"),
            Secret::SigningKey => ("JWT_SECRET_ARN", "JwtSecretArn"),
            Secret::FirstAdmin => ("ADMIN_SECRET_ARN", "AdminSecretArn"),
        };
        let secret_variables = ["DATABASE_SECRET_ARN", "JWT_SECRET_ARN", "ADMIN_SECRET_ARN"];
        for function in t.functions.values() {
            let needs = orderly_functions::secrets(&function.handler);
            let id = &function.logical_id;
            let mut expected_vars: Vec<(String, String)> = needs
                .iter()
                .map(|s| {
                    let (var, param) = source(*s);
                    (var.to_owned(), param.to_owned())
                })
                .collect();
            expected_vars.sort();
            let mut given_vars: Vec<(String, String)> = function
                .environment
                .iter()
                .filter(|(name, _)| secret_variables.contains(&name.as_str()))
                .map(|(name, value)| (name.clone(), referenced_ids(value).join(",")))
                .collect();
            given_vars.sort();
            assert_eq!(given_vars, expected_vars, "{id}: secret variables");

            let mut readable: Vec<String> = t.resources[id]
                .properties
                .get("Policies")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|p| p.get("AWSSecretsManagerGetSecretValuePolicy"))
                .map(|p| referenced_ids(&p["SecretArn"]).join(","))
                .collect();
            readable.sort();
            let mut expected_params: Vec<String> =
                expected_vars.into_iter().map(|(_, param)| param).collect();
            expected_params.sort();
            assert_eq!(readable, expected_params, "{id}: GetSecretValue rights");

            for (name, value) in &function.environment {
                let text = value.to_string();
                assert!(
                    !text.contains("resolve:secretsmanager")
                        && !text.contains("resolve:ssm-secure"),
                    "{id}: {name} puts a secret's value into the configuration"
                );
                assert!(
                    !["DATABASE_URL", "JWT_SIGNING_KEY", "ORDERLY_ADMIN_PASSWORD"]
                        .contains(&name.as_str()),
                    "{id}: {name} is a secret's value"
                );
            }
        }
    }

    #[test]
    fn each_worker_queue_receives_exactly_the_events_its_worker_handles() {
        use orderly_domain::events::Event;
        let t = real_template();
        // Queue → the event types its subscription lets through (`None`: no filter, everything).
        let mut routed: BTreeMap<String, Option<Vec<String>>> = BTreeMap::new();
        for resource in t
            .resources
            .values()
            .filter(|r| r.kind == "AWS::SNS::Subscription")
        {
            let props = &resource.properties;
            if referenced_ids(&props["TopicArn"]) != ["OrderEventsTopic"] {
                continue;
            }
            let queue = referenced_ids(&props["Endpoint"]).remove(0);
            let filter = props.pointer("/FilterPolicy/event_type").map(|types| {
                let mut types: Vec<String> = types
                    .as_array()
                    .expect("a list of event types")
                    .iter()
                    .map(|v| v.as_str().expect("a string").to_owned())
                    .collect();
                types.sort();
                types
            });
            assert!(
                routed.insert(queue.clone(), filter).is_none(),
                "{queue} has two subscriptions"
            );
        }
        for (queue, filter) in &routed {
            for event_type in filter.iter().flatten() {
                assert!(
                    Event::TYPES.contains(&event_type.as_str()),
                    "{queue}'s filter names {event_type}, which no code produces"
                );
            }
        }
        for mapping in &t.sqs_mappings {
            let handler = &t.functions[&mapping.function].handler;
            let Some(handled) = orderly_functions::handled_events(handler) else {
                continue;
            };
            let Some(filter) = routed.get(&mapping.queue) else {
                panic!(
                    "{} handles events but {} is subscribed to nothing",
                    mapping.function, mapping.queue
                );
            };
            let mut expected: Vec<String> = handled.iter().map(|t| (*t).to_owned()).collect();
            expected.sort();
            let receives = filter.clone().unwrap_or_else(|| {
                let mut all: Vec<String> = Event::TYPES.iter().map(|t| (*t).to_owned()).collect();
                all.sort();
                all
            });
            assert_eq!(
                receives, expected,
                "{} ({handler}) handles {expected:?}; its queue {} receives {receives:?}",
                mapping.function, mapping.queue
            );
        }
    }

    #[test]
    fn only_the_publishing_functions_may_publish_order_events() {
        let t = real_template();
        let mut publishers: Vec<String> = t
            .functions
            .keys()
            .filter(|id| {
                t.resources[*id]
                    .properties
                    .get("Policies")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .any(|p| {
                        p.pointer("/SNSPublishMessagePolicy/TopicName")
                            .is_some_and(|name| referenced_ids(name) == ["OrderEventsTopic"])
                    })
            })
            .map(|id| format!("{id}Role"))
            .collect();
        publishers.sort();
        let statement =
            &t.resources["OrderEventsTopicPolicy"].properties["PolicyDocument"]["Statement"][0];
        assert_eq!(
            (statement["Effect"].as_str(), statement["Action"].as_str()),
            (Some("Deny"), Some("sns:Publish"))
        );
        let mut allowed =
            referenced_ids(&statement["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]);
        allowed.sort();
        assert_eq!(allowed, publishers);
        assert_eq!(
            publishers,
            [
                "OutboxRelayFunctionRole",
                "OutboxSweepFunctionRole",
                "SettlementFunctionRole"
            ],
            "request functions write events to the outbox and never publish"
        );
    }

    #[test]
    fn the_bucket_refuses_plain_http_and_the_apis_log_access_and_alarms_can_be_delivered() {
        let t = real_template();
        let tls =
            &t.resources["ArtifactsBucketPolicy"].properties["PolicyDocument"]["Statement"][0];
        assert_eq!(tls["Effect"], "Deny");
        assert_eq!(tls["Condition"]["Bool"]["aws:SecureTransport"], "false");
        assert!(
            t.resources["RestApi"].properties["AccessLogSetting"]["DestinationArn"].is_object()
        );
        assert!(
            t.resources["WebSocketStage"].properties["AccessLogSettings"]["DestinationArn"]
                .is_object()
        );
        // The AWS-managed SNS key does not let CloudWatch publish; the alarm topic has a key that does.
        assert_eq!(
            referenced_ids(&t.resources["AlarmTopic"].properties["KmsMasterKeyId"]),
            ["AlarmTopicKey"]
        );
        let key_policy = t.resources["AlarmTopicKey"].properties["KeyPolicy"].to_string();
        assert!(key_policy.contains("cloudwatch.amazonaws.com"));
        assert_eq!(
            t.resources["AlarmEmailSubscription"].condition.as_deref(),
            Some("HasAlarmEmail")
        );
    }

    #[test]
    fn reads_routes_mappings_schedules_and_websocket_routes() {
        let t = real_template();
        assert!(t.rest_routes.contains(&RestRoute {
            method: "GET".into(),
            path: "/health".into(),
            function: "HealthFunction".into(),
            authorizer: None
        }));
        let me = t
            .rest_routes
            .iter()
            .find(|r| r.path == "/api/v1/me" && r.method == "GET")
            .expect("GET /me");
        assert_eq!(
            me.authorizer.as_deref(),
            Some("CredentialAuthorizer"),
            "the default authorizer applies"
        );
        let authorizer = &t.authorizers["CredentialAuthorizer"];
        assert_eq!(authorizer.function, "AuthorizerFunction");
        assert_eq!(
            authorizer.identity_headers,
            vec!["authorization".to_owned()]
        );
        assert_eq!(t.gateway_responses["UNAUTHORIZED"].status, 401);
        // A throttled invocation tells clients to retry exactly as a function's own 503 does.
        let at_capacity = &t.gateway_responses["INTEGRATION_FAILURE"];
        assert_eq!(
            (at_capacity.status, at_capacity.headers.get("retry-after")),
            (
                503,
                Some(&orderly_http::UNAVAILABLE_RETRY_AFTER_SECONDS.to_string())
            )
        );
        let push = t
            .sqs_mappings
            .iter()
            .find(|m| m.function == "WsPushFunction")
            .expect("ws-push is mapped");
        assert_eq!(
            (
                push.queue.as_str(),
                push.batch_size,
                push.report_batch_item_failures
            ),
            ("WsPushQueue", 10, true)
        );
        assert!(
            t.schedules
                .iter()
                .any(|s| s.function == "WsPruneFunction" && s.expression == "rate(1 minute)")
        );
        let ws = t.websocket.expect("a WebSocket API");
        assert_eq!(ws.selection_field, "action");
        assert_eq!(ws.routes["$connect"], "WsConnectFunction");
        assert_eq!(ws.routes["$default"], "WsDefaultFunction");
        assert_eq!(
            t.functions["MigrateFunction"].timeout,
            Duration::from_secs(300)
        );
        assert_eq!(
            t.functions["WsPushFunction"].timeout,
            Duration::from_secs(10),
            "Globals' Timeout applies"
        );
        assert!(
            t.functions["HealthFunction"]
                .environment
                .contains_key("HEALTH_QUEUE_URLS")
        );
        assert!(
            t.functions["HealthFunction"]
                .environment
                .contains_key("ORDER_EVENTS_TOPIC_ARN"),
            "Globals' variables apply"
        );
    }
}

#[cfg(test)]
mod documented {
    use std::collections::BTreeSet;

    use super::*;

    /// Routes that serve the documentation itself or CORS preflights, not the API.
    fn is_api(route: &RestRoute) -> bool {
        route.method != "OPTIONS"
            && route.path != "/openapi.json"
            && !route.path.starts_with("/docs")
    }

    #[test]
    fn every_route_in_the_template_is_in_the_openapi_document_and_the_other_way_round() {
        let template =
            Template::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml"))
                .unwrap();
        let deployed: BTreeSet<(String, String)> = template
            .rest_routes
            .iter()
            .filter(|r| is_api(r))
            .map(|r| (r.method.clone(), r.path.clone()))
            .collect();
        let document = serde_json::to_value(orderly_functions::openapi_document()).unwrap();
        let documented: BTreeSet<(String, String)> = document["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .unwrap()
                    .keys()
                    .map(move |method| (method.to_uppercase(), path.clone()))
            })
            .filter(|(method, _)| {
                ["GET", "POST", "PUT", "DELETE", "PATCH"].contains(&method.as_str())
            })
            .collect();
        let undocumented: Vec<_> = deployed.difference(&documented).collect();
        let undeployed: Vec<_> = documented.difference(&deployed).collect();
        assert!(
            undocumented.is_empty(),
            "routes in template.yaml missing from the OpenAPI document: {undocumented:?}"
        );
        assert!(
            undeployed.is_empty(),
            "documented routes that template.yaml does not deploy: {undeployed:?}"
        );
        assert_eq!(document["openapi"].as_str().map(|v| &v[..3]), Some("3.1"));
    }

    #[test]
    fn every_resource_answers_cors_preflights() {
        let template =
            Template::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml"))
                .unwrap();
        let with_options: BTreeSet<&str> = template
            .rest_routes
            .iter()
            .filter(|r| r.method == "OPTIONS")
            .map(|r| r.path.as_str())
            .collect();
        let missing: Vec<&str> = template
            .rest_routes
            .iter()
            .filter(|r| is_api(r) && !with_options.contains(r.path.as_str()))
            .map(|r| r.path.as_str())
            .collect();
        assert!(
            missing.is_empty(),
            "resources without an OPTIONS route to CorsPreflightFunction: {missing:?}"
        );
    }
}

#[cfg(test)]
mod lint {
    use std::process::Command;

    /// cfn-lint validates the template against CloudFormation's and SAM's specifications.
    #[test]
    fn template_passes_cfn_lint() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        let cfn_lint = std::env::var("CFN_LINT").unwrap_or_else(|_| {
            // The project's pinned tools, installed on first use as `make test` would.
            let venv = Command::new(format!("{root}/infra/scripts/venv.sh"))
                .status()
                .expect("run infra/scripts/venv.sh");
            assert!(venv.success(), "infra/scripts/venv.sh failed");
            format!("{root}/.venv/bin/cfn-lint")
        });
        let output = Command::new(&cfn_lint)
            .arg(format!("{root}/template.yaml"))
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run {cfn_lint} ({e}); run infra/scripts/venv.sh or set CFN_LINT")
            });
        assert!(
            output.status.success(),
            "cfn-lint found problems:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

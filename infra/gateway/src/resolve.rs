//! Resolves CloudFormation intrinsics (`Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::Join`) against what the local
//! stack created, so function environments get the local queue URLs, topic ARN and bucket name.

use std::collections::HashMap;

use serde_json::Value;

use crate::template::sub_names;

pub const ACCOUNT_ID: &str = "123456789012";
pub const STACK_NAME: &str = "orderly-local";

/// A created resource: what `Ref` returns and its `Fn::GetAtt` attributes.
#[derive(Debug, Clone, Default)]
pub struct Physical {
    pub reference: String,
    pub attributes: HashMap<String, String>,
}

#[derive(Debug, Default)]
pub struct Resolver {
    pub region: String,
    pub parameters: HashMap<String, String>,
    pub physical: HashMap<String, Physical>,
}

impl Resolver {
    fn reference(&self, name: &str) -> Result<String, String> {
        match name {
            "AWS::Region" => Ok(self.region.clone()),
            "AWS::AccountId" => Ok(ACCOUNT_ID.to_owned()),
            "AWS::StackName" => Ok(STACK_NAME.to_owned()),
            "AWS::Partition" => Ok("aws".to_owned()),
            "AWS::URLSuffix" => Ok("amazonaws.com".to_owned()),
            _ => self
                .parameters
                .get(name)
                .cloned()
                .or_else(|| self.physical.get(name).map(|p| p.reference.clone()))
                .ok_or_else(|| format!("`{name}` is neither a parameter with a value nor a resource the local stack creates")),
        }
    }

    fn attribute(&self, resource: &str, attribute: &str) -> Result<String, String> {
        self.physical
            .get(resource)
            .and_then(|p| p.attributes.get(attribute))
            .cloned()
            .ok_or_else(|| format!("`{resource}.{attribute}` is not known to the local stack"))
    }

    fn sub(
        &self,
        text: &str,
        variables: &serde_json::Map<String, Value>,
    ) -> Result<String, String> {
        let mut out = text.to_owned();
        for name in sub_names(text).collect::<Vec<_>>() {
            let value = match (variables.get(name), name.split_once('.')) {
                (Some(v), _) => self.resolve(v)?,
                (None, Some((resource, attribute))) => self.attribute(resource, attribute)?,
                (None, None) => self.reference(name)?,
            };
            out = out.replace(&format!("${{{name}}}"), &value);
        }
        Ok(out.replace("${!", "${"))
    }

    /// Whether the template's condition `name` holds (`Fn::Equals`, `Fn::Not`, `Fn::And`, `Fn::Or`,
    /// `Condition`), so resources under a false one are not made, as in CloudFormation.
    pub fn condition(
        &self,
        conditions: &serde_json::Map<String, Value>,
        name: &str,
    ) -> Result<bool, String> {
        let body = conditions
            .get(name)
            .ok_or_else(|| format!("no condition `{name}`"))?;
        self.holds(conditions, body)
    }

    fn holds(
        &self,
        conditions: &serde_json::Map<String, Value>,
        value: &Value,
    ) -> Result<bool, String> {
        let Some((function, argument)) = value.as_object().and_then(|m| m.iter().next()) else {
            return Err(format!("`{value}` is not a condition"));
        };
        let all = |items: &Value| -> Result<Vec<bool>, String> {
            items
                .as_array()
                .ok_or_else(|| format!("{function} needs a list"))?
                .iter()
                .map(|item| self.holds(conditions, item))
                .collect()
        };
        match (function.as_str(), argument) {
            ("Condition", Value::String(other)) => self.condition(conditions, other),
            ("Fn::Not", items) => Ok(!all(items)?.first().copied().unwrap_or(false)),
            ("Fn::And", items) => Ok(all(items)?.into_iter().all(|b| b)),
            ("Fn::Or", items) => Ok(all(items)?.into_iter().any(|b| b)),
            ("Fn::Equals", Value::Array(pair)) if pair.len() == 2 => {
                Ok(self.resolve(&pair[0])? == self.resolve(&pair[1])?)
            }
            _ => Err(format!("condition function {function} is not emulated")),
        }
    }

    /// The value as a string, the way CloudFormation would render it into an environment variable.
    pub fn resolve(&self, value: &Value) -> Result<String, String> {
        match value {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            Value::Object(map) if map.len() == 1 => {
                let (function, argument) = map.iter().next().expect("one entry");
                match (function.as_str(), argument) {
                    ("Ref", Value::String(name)) => self.reference(name),
                    ("Fn::GetAtt", Value::Array(parts)) => match (parts.first(), parts.get(1)) {
                        (Some(Value::String(r)), Some(Value::String(a))) => self.attribute(r, a),
                        _ => Err("Fn::GetAtt takes [resource, attribute]".to_owned()),
                    },
                    ("Fn::Sub", Value::String(text)) => self.sub(text, &serde_json::Map::new()),
                    ("Fn::Sub", Value::Array(parts)) => match (parts.first(), parts.get(1)) {
                        (Some(Value::String(text)), Some(Value::Object(vars))) => {
                            self.sub(text, vars)
                        }
                        _ => Err("Fn::Sub takes a string or [string, variables]".to_owned()),
                    },
                    ("Fn::Join", Value::Array(parts)) => match (parts.first(), parts.get(1)) {
                        (Some(Value::String(sep)), Some(Value::Array(items))) => Ok(items
                            .iter()
                            .map(|i| self.resolve(i))
                            .collect::<Result<Vec<_>, _>>()?
                            .join(sep)),
                        _ => Err("Fn::Join takes [separator, [values]]".to_owned()),
                    },
                    (other, _) => Err(format!("{other} is not emulated locally")),
                }
            }
            other => Err(format!("cannot render {other} as a string")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resolver() -> Resolver {
        let mut r = Resolver {
            region: "us-east-1".into(),
            ..Default::default()
        };
        r.parameters.insert("StageName".into(), "prod".into());
        let queue = Physical {
            reference: "http://emulator/123/Q".into(),
            attributes: [("Arn".to_owned(), "arn:aws:sqs:us-east-1:123:Q".to_owned())].into(),
        };
        r.physical.insert("Q".into(), queue);
        r
    }

    #[test]
    fn resolves_refs_attributes_subs_and_joins() {
        let r = resolver();
        assert_eq!(
            r.resolve(&json!({"Ref": "Q"})).unwrap(),
            "http://emulator/123/Q"
        );
        assert_eq!(
            r.resolve(&json!({"Fn::GetAtt": ["Q", "Arn"]})).unwrap(),
            "arn:aws:sqs:us-east-1:123:Q"
        );
        assert_eq!(
            r.resolve(
                &json!({"Fn::Sub": "https://${Q}.x.${AWS::Region}/${StageName}/${!Literal}"})
            )
            .unwrap(),
            "https://http://emulator/123/Q.x.us-east-1/prod/${Literal}"
        );
        assert_eq!(
            r.resolve(&json!({"Fn::Sub": ["${A}-${Q.Arn}", {"A": {"Ref": "StageName"}}]}))
                .unwrap(),
            "prod-arn:aws:sqs:us-east-1:123:Q"
        );
        assert_eq!(
            r.resolve(&json!({"Fn::Join": [",", [{"Ref": "Q"}, "b"]]}))
                .unwrap(),
            "http://emulator/123/Q,b"
        );
    }

    #[test]
    fn names_what_it_cannot_resolve() {
        let r = resolver();
        assert!(
            r.resolve(&json!({"Ref": "Nope"}))
                .unwrap_err()
                .contains("`Nope`")
        );
        assert!(
            r.resolve(&json!({"Fn::GetAtt": ["Q", "Nope"]}))
                .unwrap_err()
                .contains("Q.Nope")
        );
        assert!(
            r.resolve(&json!({"Fn::If": []}))
                .unwrap_err()
                .contains("not emulated")
        );
    }

    #[test]
    fn conditions_evaluate_against_parameters() {
        let mut r = resolver();
        r.parameters.insert("AlarmEmail".into(), String::new());
        let conditions = json!({
            "HasAlarmEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]},
            "Prod": {"Fn::Equals": [{"Ref": "StageName"}, "prod"]},
            "Both": {"Fn::And": [{"Condition": "Prod"}, {"Condition": "HasAlarmEmail"}]},
            "Either": {"Fn::Or": [{"Condition": "Prod"}, {"Condition": "HasAlarmEmail"}]},
        });
        let conditions = conditions.as_object().unwrap();
        let holds = |name| r.condition(conditions, name).unwrap();
        assert!(!holds("HasAlarmEmail"));
        assert!(holds("Prod") && !holds("Both") && holds("Either"));
        assert!(r.condition(conditions, "Unknown").is_err());
    }
}

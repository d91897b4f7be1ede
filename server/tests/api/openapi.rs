//! The OpenAPI document at `/v1/openapi.json`: it is well-formed, it lists exactly the routes the
//! collector serves, every operation it lists answers as documented, and real requests and
//! answers fit its schemas.

use crate::helpers::*;
use crate::on_every_backend;
use regex::Regex;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;
use touchstone_server::api_key::KeyScope;
use touchstone_server::error::ApiError;

on_every_backend!(
    spawn = crate::helpers::TestApp::spawn_with_widget;
    the_document_is_served_and_every_reference_resolves,
    every_route_the_collector_serves_is_documented,
    every_documented_operation_answers_as_documented,
    a_real_collect_request_and_its_receipt_fit_the_schemas,
);

/// Every (method, path) the collector serves, paths in OpenAPI's syntax. Add a route here and to
/// the document together. The static pages of `www/` at `/` are files, not API.
const SERVED: &[(&str, &str)] = &[
    ("post", "/v1/collect"),
    ("options", "/v1/collect"),
    ("get", "/v1/sites/{site}/nps"),
    ("get", "/v1/sites/{site}/nps/trend"),
    ("get", "/v1/sites/{site}/nps/compare"),
    ("get", "/v1/sites/{site}/nps/accounts"),
    ("get", "/v1/sites/{site}/touchpoints"),
    ("get", "/v1/sites/{site}/drivers"),
    ("get", "/v1/sites/{site}/paths"),
    ("get", "/v1/sites/{site}/responses"),
    ("get", "/v1/sites/{site}/responses.csv"),
    ("get", "/v1/sites/{site}/segments"),
    ("get", "/v1/sites/{site}/nps/revenue"),
    ("post", "/v1/sites/{site}/revenue"),
    ("post", "/v1/sites/{site}/imports/responses"),
    ("get", "/v1/whoami"),
    ("post", "/v1/sites/{site}/privacy/export"),
    ("post", "/v1/sites/{site}/privacy/erase"),
    ("get", "/v1/sites/{site}/surveys"),
    ("put", "/v1/sites/{site}/surveys"),
    ("post", "/v1/sites/{site}/webhooks"),
    ("get", "/v1/sites/{site}/webhooks"),
    ("get", "/v1/sites/{site}/webhooks/{id}"),
    ("patch", "/v1/sites/{site}/webhooks/{id}"),
    ("delete", "/v1/sites/{site}/webhooks/{id}"),
    ("post", "/v1/sites/{site}/webhooks/{id}/rotate-secret"),
    ("post", "/v1/sites/{site}/webhooks/{id}/test"),
    ("get", "/v1/sites/{site}/webhooks/{id}/deliveries"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/touchstone.js"),
    ("get", "/widget/{hash}/{file}"),
    ("get", "/v1/openapi.json"),
];

/// The methods a path item may hold operations for.
const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

async fn the_document_is_served_and_every_reference_resolves(app: TestApp) {
    let response = app.get_as("/v1/openapi.json", None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
    let caching = response.headers()[CACHE_CONTROL].to_str().unwrap();
    assert!(caching.contains("max-age="), "{caching}");
    let document: Value = response.json().await.expect("the document is JSON");

    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(document["info"]["title"], "Touchstone");
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
    for reference in references(&document) {
        assert!(
            reference.starts_with("#/components/") && document.pointer(&reference[1..]).is_some(),
            "{reference} does not resolve"
        );
    }
    let schemes = document["components"]["securitySchemes"]
        .as_object()
        .unwrap();
    let mut operation_ids = BTreeSet::new();
    for (method, path, operation) in operations(&document) {
        let id = operation["operationId"].as_str().unwrap();
        assert!(operation_ids.insert(id), "operationId {id} twice");
        let statuses: Vec<&String> = operation["responses"].as_object().unwrap().keys().collect();
        assert!(
            statuses.iter().any(|status| status.starts_with('2')),
            "{method} {path} documents no success: {statuses:?}"
        );
        for requirement in operation["security"].as_array().into_iter().flatten() {
            for scheme in requirement.as_object().unwrap().keys() {
                assert!(
                    schemes.contains_key(scheme),
                    "{method} {path}: no scheme {scheme}"
                );
            }
        }
    }
    let codes = &document["components"]["schemas"]["Error"]["properties"]["code"]["enum"];
    assert_eq!(codes, &json!(ApiError::ALL_CODES));
}

async fn every_route_the_collector_serves_is_documented(app: TestApp) {
    let document = app.openapi().await;
    let documented: BTreeSet<(String, String)> = operations(&document)
        .map(|(method, path, _)| (method.to_owned(), path.to_owned()))
        .collect();
    let served: BTreeSet<(String, String)> = SERVED
        .iter()
        .map(|&(method, path)| (method.to_owned(), path.to_owned()))
        .collect();
    assert!(
        documented == served,
        "served but not documented: {:?}\ndocumented but not served: {:?}",
        served.difference(&documented).collect::<Vec<_>>(),
        documented.difference(&served).collect::<Vec<_>>()
    );
}

/// Each documented operation, requested for real (with an `admin` key where a key is needed,
/// and `{}` as the body where one is taken), reaches its route rather than the router's
/// `404 not_found` or `405`, and answers with a documented status, content type and schema.
/// Every other method on a documented path is refused with `405 method_not_allowed` (not read as
/// a missing page), so no method of a path goes undocumented.
async fn every_documented_operation_answers_as_documented(app: TestApp) {
    let document = app.openapi().await;
    let key = app.create_key(KeyScope::Admin).await;
    let loader = app.get_as("/touchstone.js", None).await;
    let loader = loader.text().await.unwrap();
    let hash = &Regex::new("/widget/([0-9a-f]{16})")
        .unwrap()
        .captures(&loader)
        .expect("the loader names the widget's path")[1];
    let url = |path: &str| {
        let path = path
            .replace("{site}", app.site.as_str())
            .replace("{hash}", hash)
            // No such webhook: each operation on one answers `404 unknown_webhook`.
            .replace("{id}", "424242")
            .replace("{file}", "touchstone_widget.js");
        format!("{}{path}", app.address)
    };

    for (method, path, operation) in operations(&document) {
        let mut request = app
            .client
            .request(method.to_uppercase().parse().unwrap(), url(path));
        if operation.get("security").is_some() {
            request = request.bearer_auth(&key);
        }
        if operation.get("requestBody").is_some() {
            request = request.header(CONTENT_TYPE, "application/json").body("{}");
        }
        let answer = Answer::of(request.send().await.unwrap()).await;
        let what = format!("{method} {path} answered {}", answer.status);
        assert!(
            !answer.is_the_routers_refusal(),
            "{what}: {}",
            answer.code()
        );
        answer
            .check_against(&document, &operation["responses"])
            .unwrap_or_else(|error| panic!("{what}: {error}"));
    }

    for (path, item) in document["paths"].as_object().unwrap() {
        for method in ["GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"] {
            if item.get(method.to_lowercase()).is_none() {
                let request = app.client.request(method.parse().unwrap(), url(path));
                let answer = Answer::of(request.send().await.unwrap()).await;
                assert!(
                    answer.status == 405 && answer.code() == "method_not_allowed",
                    "{method} {path} is not documented, yet answered {} {}",
                    answer.status,
                    answer.code()
                );
            }
        }
    }
}

/// A response, read whole.
struct Answer {
    status: u16,
    /// The media type without parameters, e.g. `text/plain`.
    content_type: Option<String>,
    body: Vec<u8>,
}

impl Answer {
    async fn of(response: reqwest::Response) -> Self {
        Answer {
            status: response.status().as_u16(),
            content_type: response
                .headers()
                .get(CONTENT_TYPE)
                .map(|value| essence(value.to_str().unwrap()).to_owned()),
            body: response.bytes().await.unwrap().to_vec(),
        }
    }

    /// The error code, if the body is a JSON error.
    fn code(&self) -> String {
        let body: Value = serde_json::from_slice(&self.body).unwrap_or_default();
        body["code"].as_str().unwrap_or_default().to_owned()
    }

    /// What the router answers for a path or method nobody serves.
    fn is_the_routers_refusal(&self) -> bool {
        self.status == 405 || (self.status == 404 && self.code() == "not_found")
    }

    /// Whether `responses` (an operation's) documents this status, content type and body.
    fn check_against(&self, document: &Value, responses: &Value) -> Result<(), String> {
        let documented = resolve(document, &responses[self.status.to_string()]);
        if !documented.is_object() {
            return Err("an undocumented status".into());
        }
        let Some(content) = documented.get("content").and_then(Value::as_object) else {
            return match self.body.is_empty() {
                true => Ok(()),
                false => Err("a body where none is documented".into()),
            };
        };
        let content_type = self.content_type.as_deref().ok_or("no content type")?;
        let (_, media) = content
            .iter()
            .find(|(documented, _)| essence(documented) == content_type)
            .ok_or_else(|| format!("{content_type}, which is not documented"))?;
        match media.get("schema") {
            Some(schema) if content_type == "application/json" => {
                let body: Value = serde_json::from_slice(&self.body).map_err(|e| e.to_string())?;
                check(document, schema, &body).map_err(|error| format!("{error} in {body}"))
            }
            _ => Ok(()),
        }
    }
}

async fn a_real_collect_request_and_its_receipt_fit_the_schemas(app: TestApp) {
    let document = app.openapi().await;
    let collect = &document["paths"]["/v1/collect"]["post"];
    let schema = &collect["requestBody"]["content"]["text/plain"]["schema"];
    let request = batch(vec![
        touchpoint("pricing_viewed", noon()),
        response(9, noon()),
        json!({ "type": "response", "id": event_id(), "at": noon(), "score": 3, "comment": "Slow" }),
        identify("cus_42", noon()),
    ]);
    check(&document, schema, &request).unwrap();

    // The check is not vacuous: what the collector refuses, the schema refuses too.
    let refused = [
        json!({ "type": "response", "id": event_id(), "at": noon(), "score": 11 }),
        json!({ "type": "response", "id": "not-a-uuid", "at": noon(), "score": 1 }),
        json!({ "type": "click", "id": event_id(), "at": noon() }),
        touchpoint("Pricing Viewed", noon()),
        json!({ "type": "identify", "id": event_id(), "at": noon(), "customer": "c", "traits": { "Plan": "pro" } }),
    ];
    for event in refused {
        let request = batch(vec![event]);
        assert!(check(&document, schema, &request).is_err(), "{request}");
        assert_eq!(app.collect(&request).await.status(), 400, "{request}");
    }
    assert!(check(&document, schema, &batch(vec![])).is_err());

    let answer = app.collect(&request).await;
    assert_eq!(answer.status(), 200);
    let receipt: Value = answer.json().await.unwrap();
    check(
        &document,
        &collect["responses"]["200"]["content"]["application/json"]["schema"],
        &receipt,
    )
    .unwrap();
}

impl TestApp {
    /// The served document.
    async fn openapi(&self) -> Value {
        self.get_as("/v1/openapi.json", None)
            .await
            .json()
            .await
            .unwrap()
    }
}

/// Every operation in `document`: method, path and the operation object.
fn operations(document: &Value) -> impl Iterator<Item = (&str, &str, &Value)> {
    document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            METHODS.iter().filter_map(move |&method| {
                item.get(method)
                    .map(|operation| (method, path.as_str(), operation))
            })
        })
}

/// Every `$ref` anywhere in `value`.
fn references(value: &Value) -> Vec<String> {
    match value {
        Value::Object(object) => object
            .iter()
            .flat_map(|(key, value)| match (key.as_str(), value) {
                ("$ref", Value::String(reference)) => vec![reference.clone()],
                _ => references(value),
            })
            .collect(),
        Value::Array(items) => items.iter().flat_map(references).collect(),
        _ => Vec::new(),
    }
}

/// `value`, or what its `$ref` points to.
fn resolve<'a>(document: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(reference) => document.pointer(&reference[1..]).unwrap_or(&Value::Null),
        None => value,
    }
}

/// A media type without its parameters, e.g. `text/plain` of `text/plain; charset=utf-8`.
fn essence(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or_default().trim()
}

/// Checks `value` against `schema`: the JSON Schema keywords the document uses, no more. An
/// unknown keyword fails, so the check never passes by ignoring a rule.
fn check(document: &Value, schema: &Value, value: &Value) -> Result<(), String> {
    let schema = resolve(document, schema);
    let Some(rules) = schema.as_object() else {
        return Err(format!("{schema} is not a schema"));
    };
    for (keyword, rule) in rules {
        check_keyword(document, rules, keyword, rule, value)
            .map_err(|error| format!("{keyword}: {error}"))?;
    }
    Ok(())
}

fn check_keyword(
    document: &Value,
    rules: &Map<String, Value>,
    keyword: &str,
    rule: &Value,
    value: &Value,
) -> Result<(), String> {
    let number = |rule: &Value| rule.as_f64().unwrap();
    let ok = |holds: bool| {
        if holds {
            Ok(())
        } else {
            Err(format!("{value} breaks {rule}"))
        }
    };
    let length = value.as_str().map(|text| text.chars().count() as f64);
    match keyword {
        "description" => Ok(()),
        // Formats are annotations in JSON Schema; the uuid ones are worth checking.
        "format" if rule == "uuid" => ok(value
            .as_str()
            .is_some_and(|text| uuid::Uuid::parse_str(text).is_ok())),
        "format" => Ok(()),
        "type" => {
            let types: Vec<&str> = match rule {
                Value::Array(types) => types.iter().filter_map(Value::as_str).collect(),
                other => vec![other.as_str().unwrap()],
            };
            ok(types.iter().any(|&kind| match kind {
                "object" => value.is_object(),
                "array" => value.is_array(),
                "string" => value.is_string(),
                "integer" => value.is_i64() || value.is_u64(),
                "number" => value.is_number(),
                "boolean" => value.is_boolean(),
                "null" => value.is_null(),
                _ => false,
            }))
        }
        "enum" => ok(rule.as_array().unwrap().contains(value)),
        "minimum" => ok(value.as_f64().is_none_or(|n| n >= number(rule))),
        "maximum" => ok(value.as_f64().is_none_or(|n| n <= number(rule))),
        "minLength" => ok(length.is_none_or(|n| n >= number(rule))),
        "maxLength" => ok(length.is_none_or(|n| n <= number(rule))),
        "pattern" => ok(value
            .as_str()
            .is_none_or(|text| Regex::new(rule.as_str().unwrap()).unwrap().is_match(text))),
        "required" => ok(rule
            .as_array()
            .unwrap()
            .iter()
            .all(|field| value.get(field.as_str().unwrap()).is_some())),
        "properties" | "additionalProperties" | "propertyNames" | "maxProperties" => {
            let Some(object) = value.as_object() else {
                return Ok(());
            };
            if keyword == "maxProperties" {
                return ok(object.len() as f64 <= number(rule));
            }
            for (name, field) in object {
                let declared = rules
                    .get("properties")
                    .and_then(|properties| properties.get(name));
                match (keyword, declared, rule) {
                    ("properties", Some(schema), _) => check(document, schema, field),
                    ("additionalProperties", None, Value::Bool(false)) => {
                        Err(format!("{name} is not allowed"))
                    }
                    ("additionalProperties", None, schema) => check(document, schema, field),
                    ("propertyNames", _, schema) => check(document, schema, &json!(name)),
                    _ => Ok(()),
                }
                .map_err(|error| format!("{name}: {error}"))?;
            }
            Ok(())
        }
        "items" | "minItems" | "maxItems" => {
            let Some(items) = value.as_array() else {
                return Ok(());
            };
            match keyword {
                "minItems" => ok(items.len() as f64 >= number(rule)),
                "maxItems" => ok(items.len() as f64 <= number(rule)),
                _ => items
                    .iter()
                    .try_for_each(|item| check(document, rule, item)),
            }
        }
        "oneOf" => {
            let matching = rule
                .as_array()
                .unwrap()
                .iter()
                .filter(|schema| check(document, schema, value).is_ok())
                .count();
            ok(matching == 1)
        }
        "allOf" => rule
            .as_array()
            .unwrap()
            .iter()
            .try_for_each(|schema| check(document, schema, value)),
        other => Err(format!("the test does not know the keyword {other}")),
    }
}

//! Helpers shared by the integration tests: raw HTTP calls to the fake.
#![allow(dead_code)]

use fake_bot_api::spec::spec;
use fake_bot_api::{BOT_TOKEN, FakeTelegram};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// `/bot<token>/<method>` on the fake.
pub fn method_url(fake: &FakeTelegram, method: &str) -> String {
    format!("{}bot{}/{}", fake.api_url(), BOT_TOKEN, method)
}

/// POSTs `params` as JSON to `/bot<token>/<method>`; returns (status, body).
pub async fn call_status(fake: &FakeTelegram, method: &str, params: Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(method_url(fake, method))
        .json(&params)
        .send()
        .await
        .expect("request to the fake");
    let status = resp.status().as_u16();
    let body = resp.json::<Value>().await.expect("JSON reply");
    (status, body)
}

/// Like [`call_status`], returning only the body.
pub async fn call(fake: &FakeTelegram, method: &str, params: Value) -> Value {
    call_status(fake, method, params).await.1
}

/// The `result` of a successful call (panics otherwise).
pub async fn ok(fake: &FakeTelegram, method: &str, params: Value) -> Value {
    let body = call(fake, method, params).await;
    assert_eq!(body["ok"], Value::Bool(true), "{method} failed: {body}");
    body["result"].clone()
}

/// The description of a failed call (panics on success).
pub async fn err(fake: &FakeTelegram, method: &str, params: Value) -> String {
    let body = call(fake, method, params).await;
    assert_eq!(
        body["ok"],
        Value::Bool(false),
        "{method} unexpectedly succeeded: {body}"
    );
    body["description"].as_str().unwrap_or_default().to_owned()
}

/// `v` is a valid `spec_type` per the Bot API spec, and teloxide reads it as `T`.
pub fn check<T: DeserializeOwned>(spec_type: &str, v: &Value) -> T {
    let problems = spec().validate(spec_type, v);
    assert!(problems.is_empty(), "{spec_type} {v}: {problems:#?}");
    match serde_json::from_str::<T>(&v.to_string()) {
        Ok(t) => t,
        Err(e) => panic!(
            "{spec_type} doesn't deserialize into {}: {e}\n{v:#}",
            std::any::type_name::<T>()
        ),
    }
}

/// Takes the pending updates and confirms them.
pub async fn take_updates(fake: &FakeTelegram) -> Vec<Value> {
    let got = ok(fake, "getUpdates", serde_json::json!({})).await;
    let list = got.as_array().unwrap().clone();
    if let Some(last) = list.last() {
        let next = last["update_id"].as_i64().unwrap() + 1;
        ok(fake, "getUpdates", serde_json::json!({"offset": next})).await;
    }
    list
}

/// Fails the test with the fake's spec violations, if it saw any.
pub fn assert_no_violations(fake: &FakeTelegram) {
    assert!(
        fake.spec_violations().is_empty(),
        "{:?}",
        fake.spec_violations()
    );
}

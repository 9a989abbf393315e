//! Helpers shared by the integration tests: raw HTTP calls to the fake.
#![allow(dead_code)]

use fake_bot_api::{BOT_TOKEN, FakeTelegram};
use serde_json::Value;

/// POSTs `params` as JSON to `/bot<token>/<method>`; returns (status, body).
pub async fn call_status(fake: &FakeTelegram, method: &str, params: Value) -> (u16, Value) {
    let url = format!("{}bot{}/{}", fake.api_url(), BOT_TOKEN, method);
    let resp = reqwest::Client::new()
        .post(url)
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

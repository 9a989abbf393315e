//! The HTTP side: routing, body parsing, spec checks, faults, recording,
//! long polling.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::params::{ApiError, ApiResult, Params};
use crate::spec::spec;
use crate::{BOT_TOKEN, Fault, Inner, RecordedRequest};

fn reply(status: u16, body: &Value) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn parse_form(s: &str, into: &mut Map<String, Value>) {
    for (k, v) in form_urlencoded::parse(s.as_bytes()) {
        into.insert(k.into_owned(), Value::String(v.into_owned()));
    }
}

/// Query string + body → one parameter object.
fn parse_params(
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Map<String, Value>, ApiError> {
    let mut params = Map::new();
    if let Some(q) = uri.query() {
        parse_form(q, &mut params);
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(params);
    }
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ct.starts_with("multipart/") {
        return Err(ApiError::bad(
            "multipart requests are not supported by the fake",
        ));
    }
    if ct.starts_with("application/x-www-form-urlencoded") {
        let s = std::str::from_utf8(body)
            .map_err(|_| ApiError::bad("request body is not valid UTF-8"))?;
        parse_form(s, &mut params);
        return Ok(params);
    }
    // JSON (teloxide) or unspecified.
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => {
            params.extend(m);
            Ok(params)
        }
        Ok(_) => Err(ApiError::bad("request parameters must be a JSON object")),
        Err(e) => Err(ApiError::bad(format!("can't parse JSON request body: {e}"))),
    }
}

fn fault_error(f: &Fault) -> ApiError {
    match f {
        Fault::RetryAfter(n) => ApiError::new(429, format!("Too Many Requests: retry after {n}"))
            .with_parameters(json!({"retry_after": n})),
        Fault::BadRequest(m) => ApiError::bad(m.strip_prefix("Bad Request: ").unwrap_or(m)),
        Fault::Forbidden(m) => ApiError::forbidden(m.strip_prefix("Forbidden: ").unwrap_or(m)),
        Fault::ServerError => ApiError::new(500, "Internal Server Error"),
    }
}

/// Message for a missing required parameter, as Telegram words it.
fn missing_message(method: &str, param: &str) -> String {
    match (method, param) {
        ("sendMessage" | "editMessageText", "text") => "message text is empty".into(),
        ("answerCallbackQuery", "callback_query_id") => {
            "query is too old and response timeout expired or query ID is invalid".into()
        }
        _ => format!("{param} is empty"),
    }
}

pub(crate) async fn handle(
    inner: Arc<Inner>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let raw_path = uri.path().to_owned();
    let path = percent_encoding::percent_decode_str(&raw_path)
        .decode_utf8_lossy()
        .into_owned();
    let Some(rest) = path.strip_prefix("/bot") else {
        return reply(
            404,
            &json!({"ok": false, "error_code": 404, "description": "Not Found"}),
        );
    };
    let (token, method_name) = rest.split_once('/').unwrap_or((rest, ""));
    if token != BOT_TOKEN {
        return reply(
            401,
            &json!({"ok": false, "error_code": 401, "description": "Unauthorized"}),
        );
    }
    let method_name = method_name.trim_end_matches('/');
    let params = parse_params(&uri, &headers, &body);

    let Some(mspec) = spec().method(method_name) else {
        let response = json!({"ok": false, "error_code": 404, "description": "Not Found"});
        inner.record(
            RecordedRequest {
                method: method_name.to_owned(),
                params: Value::Object(params.unwrap_or_default()),
                ok: false,
                response: response.clone(),
            },
            Some(format!("unknown method \"{method_name}\"")),
        );
        return reply(404, &response);
    };
    let method = mspec.name.clone();

    let params = match params {
        Ok(p) => p,
        Err(e) => {
            let response = e.to_json();
            inner.record(
                RecordedRequest {
                    method: method.clone(),
                    params: Value::Object(Map::new()),
                    ok: false,
                    response: response.clone(),
                },
                Some(format!("{method}: unparsable request: {}", e.description)),
            );
            return reply(e.code, &response);
        }
    };

    // Spec check.
    let mut violations = Vec::new();
    let mut missing = None;
    for name in params.keys() {
        if !mspec.required.contains_key(name) && !mspec.optional.contains_key(name) {
            violations.push(format!("{method}: unknown parameter \"{name}\""));
        }
    }
    for name in mspec.required.keys() {
        if params.get(name).is_none_or(|v| v.is_null()) {
            violations.push(format!("{method}: missing required parameter \"{name}\""));
            missing.get_or_insert_with(|| name.clone());
        }
    }

    let fault = inner.take_fault(&method);
    let result: ApiResult = if let Some(f) = fault {
        Err(fault_error(&f))
    } else if let Some(name) = missing {
        Err(ApiError::bad(missing_message(&method, &name)))
    } else if method == "getUpdates" {
        get_updates(&inner, &params).await
    } else {
        let p = Params(&params);
        inner.state.lock().dispatch(&method, &p)
    };

    let (status, response) = match result {
        Ok(v) => (200, json!({"ok": true, "result": v})),
        Err(e) => (e.code, e.to_json()),
    };
    let recorded = RecordedRequest {
        method,
        params: Value::Object(params),
        ok: status == 200,
        response: response.clone(),
    };
    let violation = (!violations.is_empty()).then(|| violations.join("; "));
    inner.record(recorded, violation);
    reply(status, &response)
}

async fn get_updates(inner: &Arc<Inner>, params: &Map<String, Value>) -> ApiResult {
    let p = Params(params);
    let offset = p.i64("offset")?;
    let limit = p.i64("limit")?.unwrap_or(100).clamp(1, 100) as usize;
    let timeout = p.i64("timeout")?.unwrap_or(0).clamp(0, 3600) as u64;
    let allowed = p.json("allowed_updates")?;
    let gen_id = {
        let mut s = inner.state.lock();
        if let Some(o) = offset {
            if o > 0 {
                while s.updates.front().is_some_and(|u| u.id < o) {
                    s.updates.pop_front();
                }
            } else if o < 0 {
                let keep = o.unsigned_abs() as usize;
                while s.updates.len() > keep {
                    s.updates.pop_front();
                }
            }
        }
        if let Some(a) = allowed {
            let list: Vec<String> = a
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            s.allowed_updates = if list.is_empty() { None } else { Some(list) };
        }
        s.poll_gen += 1;
        s.poll_gen
    };
    inner.bump();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    let mut rx = inner.changed.subscribe();
    loop {
        let (res, changed) = {
            let mut s = inner.state.lock();
            if s.poll_gen != gen_id {
                return Err(ApiError::new(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                ));
            }
            let before = s.updates.len();
            let allowed: Vec<bool> = s.updates.iter().map(|u| s.is_allowed(u.kind)).collect();
            if allowed.iter().any(|a| !a) {
                let mut i = 0;
                s.updates.retain(|_| {
                    let keep = allowed[i];
                    i += 1;
                    keep
                });
            }
            let changed = s.updates.len() != before;
            let out: Vec<Value> = s
                .updates
                .iter()
                .take(limit)
                .map(|u| u.json.clone())
                .collect();
            (out, changed)
        };
        if changed {
            inner.bump();
        }
        if !res.is_empty() || tokio::time::Instant::now() >= deadline {
            return Ok(Value::Array(res));
        }
        if tokio::time::timeout_at(deadline, rx.changed())
            .await
            .is_err()
        {
            // Timed out: one last look.
            continue;
        }
    }
}

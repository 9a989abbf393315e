//! Request parameters and Telegram-style errors.

use serde_json::{Map, Value, json};

/// An error reply of the Bot API.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub code: u16,
    pub description: String,
    pub parameters: Option<Value>,
}

impl ApiError {
    pub fn new(code: u16, description: impl Into<String>) -> ApiError {
        ApiError {
            code,
            description: description.into(),
            parameters: None,
        }
    }

    /// 400 "Bad Request: {msg}".
    pub fn bad(msg: impl AsRef<str>) -> ApiError {
        ApiError::new(400, format!("Bad Request: {}", msg.as_ref()))
    }

    /// 403 "Forbidden: {msg}".
    pub fn forbidden(msg: impl AsRef<str>) -> ApiError {
        ApiError::new(403, format!("Forbidden: {}", msg.as_ref()))
    }

    pub fn with_parameters(mut self, p: Value) -> ApiError {
        self.parameters = Some(p);
        self
    }

    pub fn to_json(&self) -> Value {
        let mut v = json!({"ok": false, "error_code": self.code, "description": self.description});
        if let Some(p) = &self.parameters {
            v["parameters"] = p.clone();
        }
        v
    }
}

pub(crate) type ApiResult = Result<Value, ApiError>;

/// Typed, lenient access to request parameters (JSON bodies give typed
/// values, forms and query strings give strings).
pub(crate) struct Params<'a>(pub &'a Map<String, Value>);

impl<'a> Params<'a> {
    /// The raw value; `null` counts as absent, like Telegram does.
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn i64(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
                .map(Some)
                .ok_or_else(|| ApiError::bad(format!("invalid {name} specified"))),
            Some(Value::String(s)) => s
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| ApiError::bad(format!("invalid {name} specified"))),
            Some(Value::Bool(b)) => Ok(Some(i64::from(*b))),
            Some(_) => Err(ApiError::bad(format!("invalid {name} specified"))),
        }
    }

    pub fn string(&self, name: &str) -> Option<String> {
        match self.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            other => Some(other.to_string()),
        }
    }

    pub fn bool(&self, name: &str) -> bool {
        match self.get(name) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => matches!(s.as_str(), "true" | "True" | "1"),
            Some(Value::Number(n)) => n.as_i64().is_some_and(|n| n != 0),
            _ => false,
        }
    }

    /// An object/array parameter; forms carry it JSON-encoded.
    pub fn json(&self, name: &str) -> Result<Option<Value>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => serde_json::from_str::<Value>(s)
                .map(Some)
                .map_err(|_| ApiError::bad(format!("can't parse {name} JSON object"))),
            Some(v) => Ok(Some(v.clone())),
        }
    }
}

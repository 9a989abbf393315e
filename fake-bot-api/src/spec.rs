//! The Bot API specification the fake checks requests and replies against.
//!
//! The committed fixture `spec/bot-api.json` is derived from the full
//! `api.json` description of the Bot API (see [`derive_fixture`]); it keeps,
//! for every method, its parameters and, for every type, its fields, each
//! split into required and optional ones with their declared types.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use serde_json::{Map, Value};

/// The committed fixture, as text.
pub const FIXTURE: &str = include_str!("../spec/bot-api.json");

/// A method of the Bot API.
#[derive(Debug, Clone)]
pub struct MethodSpec {
    /// Canonical camelCase name, e.g. `sendMessage`.
    pub name: String,
    /// Required parameters and their declared types.
    pub required: BTreeMap<String, String>,
    /// Optional parameters and their declared types.
    pub optional: BTreeMap<String, String>,
}

/// A type of the Bot API.
#[derive(Debug, Clone, Default)]
pub struct TypeSpec {
    /// Required fields and their declared types.
    pub required: BTreeMap<String, String>,
    /// Optional fields and their declared types.
    pub optional: BTreeMap<String, String>,
    /// For abstract types (e.g. `ChatMember`), the concrete variants.
    pub subtypes: Vec<String>,
}

/// The parsed fixture.
#[derive(Debug)]
pub struct Spec {
    /// e.g. "Bot API 10.1".
    pub version: String,
    methods: HashMap<String, MethodSpec>,
    types: HashMap<String, TypeSpec>,
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

impl Spec {
    fn parse(text: &str) -> Spec {
        let v: Value = serde_json::from_str(text).expect("spec/bot-api.json is valid JSON");
        let version = v["version"].as_str().unwrap_or_default().to_owned();
        let mut methods = HashMap::new();
        if let Some(ms) = v["methods"].as_object() {
            for (name, m) in ms {
                methods.insert(
                    name.to_ascii_lowercase(),
                    MethodSpec {
                        name: name.clone(),
                        required: string_map(m.get("required")),
                        optional: string_map(m.get("optional")),
                    },
                );
            }
        }
        let mut types = HashMap::new();
        if let Some(ts) = v["types"].as_object() {
            for (name, t) in ts {
                types.insert(
                    name.clone(),
                    TypeSpec {
                        required: string_map(t.get("required")),
                        optional: string_map(t.get("optional")),
                        subtypes: t
                            .get("subtypes")
                            .and_then(Value::as_array)
                            .map(|a| {
                                a.iter()
                                    .filter_map(|s| s.as_str().map(str::to_owned))
                                    .collect()
                            })
                            .unwrap_or_default(),
                    },
                );
            }
        }
        Spec {
            version,
            methods,
            types,
        }
    }

    /// Looks a method up case-insensitively (`SendMessage` → `sendMessage`).
    pub fn method(&self, name: &str) -> Option<&MethodSpec> {
        self.methods.get(&name.to_ascii_lowercase())
    }

    /// Looks a type up by its exact name.
    pub fn type_spec(&self, name: &str) -> Option<&TypeSpec> {
        self.types.get(name)
    }

    /// Checks `value` against the type `type_name` recursively: required
    /// fields present, no unknown fields, primitive types right, nested
    /// objects valid. Returns human-readable problems (empty = valid).
    pub fn validate(&self, type_name: &str, value: &Value) -> Vec<String> {
        let mut errors = Vec::new();
        self.validate_type_expr(type_name, value, type_name, &mut errors);
        errors
    }

    fn validate_type_expr(&self, expr: &str, value: &Value, path: &str, errors: &mut Vec<String>) {
        let alternatives: Vec<&str> = expr.split(" or ").collect();
        if alternatives.len() > 1 {
            errors.extend(closest_match(alternatives, |alt, e| {
                self.validate_type_expr(alt, value, path, e)
            }));
            return;
        }
        if let Some(inner) = expr.strip_prefix("Array of ") {
            match value.as_array() {
                Some(items) => {
                    for (i, item) in items.iter().enumerate() {
                        self.validate_type_expr(inner, item, &format!("{path}[{i}]"), errors);
                    }
                }
                None => errors.push(format!("{path}: expected an array ({expr}), got {value}")),
            }
            return;
        }
        let ok = match expr {
            "Integer" => value.is_i64() || value.is_u64(),
            "Float" => value.is_number(),
            "String" => value.is_string(),
            "Boolean" => value.is_boolean(),
            "True" => value == &Value::Bool(true),
            "InputFile" => true,
            _ => {
                self.validate_object(expr, value, path, errors);
                true
            }
        };
        if !ok {
            errors.push(format!("{path}: expected {expr}, got {value}"));
        }
    }

    fn validate_object(
        &self,
        type_name: &str,
        value: &Value,
        path: &str,
        errors: &mut Vec<String>,
    ) {
        let Some(ts) = self.types.get(type_name) else {
            errors.push(format!("{path}: unknown type {type_name}"));
            return;
        };
        if !ts.subtypes.is_empty() {
            errors.extend(closest_match(&ts.subtypes, |sub, e| {
                self.validate_object(sub, value, path, e)
            }));
            return;
        }
        let Some(obj) = value.as_object() else {
            errors.push(format!(
                "{path}: expected a {type_name} object, got {value}"
            ));
            return;
        };
        for (field, ty) in &ts.required {
            match obj.get(field) {
                None | Some(Value::Null) => {
                    errors.push(format!("{path}: {type_name} lacks required field {field}"))
                }
                Some(v) => self.validate_type_expr(ty, v, &format!("{path}.{field}"), errors),
            }
        }
        for (field, v) in obj {
            if ts.required.contains_key(field) {
                continue;
            }
            match ts.optional.get(field) {
                Some(ty) => self.validate_type_expr(ty, v, &format!("{path}.{field}"), errors),
                None => errors.push(format!("{path}: {type_name} has no field {field}")),
            }
        }
        // Discriminators that the spec only states in prose.
        if let Some(expected) = discriminator(type_name) {
            let (field, want) = expected;
            if obj.get(field).and_then(Value::as_str) != Some(want) {
                errors.push(format!("{path}: {type_name}.{field} must be \"{want}\""));
            }
        }
    }
}

fn discriminator(type_name: &str) -> Option<(&'static str, &'static str)> {
    Some(match type_name {
        "ChatMemberOwner" => ("status", "creator"),
        "ChatMemberAdministrator" => ("status", "administrator"),
        "ChatMemberMember" => ("status", "member"),
        "ChatMemberRestricted" => ("status", "restricted"),
        "ChatMemberLeft" => ("status", "left"),
        "ChatMemberBanned" => ("status", "kicked"),
        "MessageOriginUser" => ("type", "user"),
        "MessageOriginHiddenUser" => ("type", "hidden_user"),
        "MessageOriginChat" => ("type", "chat"),
        "MessageOriginChannel" => ("type", "channel"),
        _ => return None,
    })
}

/// The spec loaded from the committed fixture.
pub fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| Spec::parse(FIXTURE))
}

fn fields_to_maps(fields: Option<&Value>) -> (Map<String, Value>, Map<String, Value>) {
    let mut required = Map::new();
    let mut optional = Map::new();
    for f in fields.and_then(Value::as_array).into_iter().flatten() {
        let Some(name) = f["name"].as_str() else {
            continue;
        };
        let ty = f["types"]
            .as_array()
            .map(|t| {
                t.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" or ")
            })
            .unwrap_or_default();
        if f["required"].as_bool().unwrap_or(false) {
            required.insert(name.to_owned(), Value::String(ty));
        } else {
            optional.insert(name.to_owned(), Value::String(ty));
        }
    }
    (required, optional)
}

/// Derives the compact fixture from the full `api.json` and renders it as
/// the exact text committed in `spec/bot-api.json` (sorted, one method or
/// type per line).
pub fn derive_fixture(api: &Value) -> String {
    let mut out = String::from("{\n");
    let version = api["version"].as_str().unwrap_or_default();
    out.push_str(&format!("  \"version\": {},\n", Value::from(version)));
    for (section, key) in [("methods", "methods"), ("types", "types")] {
        out.push_str(&format!("  \"{section}\": {{\n"));
        let entries: BTreeMap<&String, &Value> = api[key]
            .as_object()
            .map(|m| m.iter().collect())
            .unwrap_or_default();
        let n = entries.len();
        for (i, (name, def)) in entries.into_iter().enumerate() {
            let (required, optional) = fields_to_maps(def.get("fields"));
            // Sorted rendering, independent of serde_json's map flavour.
            let render = |m: &Map<String, Value>| {
                let sorted: BTreeMap<&String, &Value> = m.iter().collect();
                let parts: Vec<String> = sorted
                    .into_iter()
                    .map(|(k, v)| format!("{}: {}", Value::from(k.as_str()), v))
                    .collect();
                format!("{{{}}}", parts.join(", "))
            };
            let mut line = format!(
                "{{\"required\": {}, \"optional\": {}",
                render(&required),
                render(&optional)
            );
            if let Some(subs) = def.get("subtypes").and_then(Value::as_array) {
                line.push_str(&format!(", \"subtypes\": {}", Value::Array(subs.clone())));
            }
            line.push('}');
            out.push_str(&format!(
                "    {}: {}{}\n",
                Value::from(name.as_str()),
                line,
                if i + 1 < n { "," } else { "" }
            ));
        }
        out.push_str(if section == "methods" {
            "  },\n"
        } else {
            "  }\n"
        });
    }
    out.push_str("}\n");
    out
}

/// Validates against each alternative: no errors when one fits, otherwise
/// the errors of the closest one (fewest complaints).
fn closest_match<T>(
    alternatives: impl IntoIterator<Item = T>,
    mut validate: impl FnMut(T, &mut Vec<String>),
) -> Vec<String> {
    let mut best: Option<Vec<String>> = None;
    for alternative in alternatives {
        let mut errors = Vec::new();
        validate(alternative, &mut errors);
        if errors.is_empty() {
            return errors;
        }
        if best.as_ref().is_none_or(|b| errors.len() < b.len()) {
            best = Some(errors);
        }
    }
    best.unwrap_or_default()
}

//! The rhai engine that evaluates flow expressions, with limits so that no
//! expression can hang or exhaust the runtime.

/// Most operations one expression evaluation may take.
pub const MAX_OPERATIONS: u64 = 50_000;
/// Longest string an expression may build, in bytes.
pub const MAX_STRING: usize = 16 * 1024;
/// Largest array or map an expression may build.
pub const MAX_COLLECTION: usize = 1_000;
/// Deepest function-call nesting.
pub const MAX_CALL_DEPTH: usize = 16;

/// A rhai engine with the runtime's limits.
pub fn engine() -> rhai::Engine {
    let mut engine = rhai::Engine::new();
    engine.set_max_operations(MAX_OPERATIONS);
    engine.set_max_string_size(MAX_STRING);
    engine.set_max_array_size(MAX_COLLECTION);
    engine.set_max_map_size(MAX_COLLECTION);
    engine.set_max_call_levels(MAX_CALL_DEPTH);
    engine.set_max_expr_depths(64, 32);
    engine
}

/// A value as JSON text, for HTTP request bodies. A string is sent as it is
/// (the flow built the body itself); anything else as JSON.
pub fn body_text(value: &rhai::Dynamic) -> String {
    if let Some(text) = value.read_lock::<rhai::ImmutableString>() {
        return text.to_string();
    }
    to_json(value).to_string()
}

fn to_json(value: &rhai::Dynamic) -> serde_json::Value {
    use serde_json::Value as J;
    if value.is_unit() {
        J::Null
    } else if let Ok(b) = value.as_bool() {
        J::Bool(b)
    } else if let Ok(i) = value.as_int() {
        J::from(i)
    } else if let Ok(f) = value.as_float() {
        serde_json::Number::from_f64(f).map_or(J::Null, J::Number)
    } else if let Some(map) = value.read_lock::<rhai::Map>() {
        J::Object(
            map.iter()
                .map(|(k, v)| (k.to_string(), to_json(v)))
                .collect(),
        )
    } else if let Some(array) = value.read_lock::<rhai::Array>() {
        J::Array(array.iter().map(to_json).collect())
    } else {
        J::String(value.to_string())
    }
}

/// Parses an HTTP response body as JSON data. `None` when it is not JSON:
/// a body is data from a remote server and is never evaluated as code.
/// serde_json's recursion limit refuses absurdly deep nesting.
pub fn from_json(text: &str) -> Option<rhai::Dynamic> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    Some(to_dynamic(value))
}

fn to_dynamic(value: serde_json::Value) -> rhai::Dynamic {
    use serde_json::Value as J;
    match value {
        J::Null => rhai::Dynamic::UNIT,
        J::Bool(b) => b.into(),
        J::Number(n) => match n.as_i64() {
            Some(i) => i.into(),
            None => n.as_f64().unwrap_or(0.0).into(),
        },
        J::String(s) => s.into(),
        J::Array(items) => rhai::Dynamic::from_array(items.into_iter().map(to_dynamic).collect()),
        J::Object(map) => rhai::Dynamic::from_map(
            map.into_iter()
                .map(|(k, v)| (k.into(), to_dynamic(v)))
                .collect(),
        ),
    }
}

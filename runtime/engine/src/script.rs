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

//! `parse` never panics, whatever the text; and a text that parses without
//! errors prints to a text that parses back, without errors, to the same tree
//! (spans aside), and that prints to itself.

#![no_main]

use dialect_compiler::ast::{Span, Stmt, Value, ValueKind};
use dialect_compiler::parse::parse;
use dialect_compiler::print::print;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        round_trip(text);
    }
});

fn round_trip(text: &str) {
    let (file, errors) = parse(text);
    let printed = print(&file, text);
    if !errors.is_empty() {
        return;
    }
    let (again, errors) = parse(&printed);
    assert!(
        errors.is_empty(),
        "printed text has errors {errors:?}:\n{printed:?}\nfrom\n{text:?}"
    );
    assert_eq!(
        stripped(&again.items),
        stripped(&file.items),
        "tree changed:\n{printed:?}\nfrom\n{text:?}"
    );
    assert_eq!(
        print(&again, &printed),
        printed,
        "print is not idempotent, from\n{text:?}"
    );
}

/// The statements with every span zeroed.
fn stripped(items: &[Stmt]) -> Vec<Stmt> {
    let mut items = items.to_vec();
    items.iter_mut().for_each(strip_stmt);
    items
}

fn strip_stmt(stmt: &mut Stmt) {
    stmt.span = Span::default();
    stmt.head.span = Span::default();
    if let Some(label) = &mut stmt.label {
        label.span = Span::default();
    }
    stmt.args.iter_mut().for_each(strip_value);
    for param in &mut stmt.params {
        param.name.span = Span::default();
        param.ty.span = Span::default();
    }
    if let Some(body) = &mut stmt.body {
        body.span = Span::default();
        body.stmts.iter_mut().for_each(strip_stmt);
    }
}

fn strip_value(value: &mut Value) {
    value.span = Span::default();
    match &mut value.kind {
        ValueKind::Path(parts) => parts.iter_mut().for_each(|p| p.span = Span::default()),
        ValueKind::List(items) => items.iter_mut().for_each(strip_value),
        _ => {}
    }
}

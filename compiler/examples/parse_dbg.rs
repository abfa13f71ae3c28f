fn main() {
    let path = std::env::args().nth(1).expect("path");
    let text = std::fs::read_to_string(path).expect("read");
    let (file, errors) = dialect_compiler::parse::parse(&text);
    println!(
        "{:#?}",
        file.items
            .iter()
            .map(|s| (&s.head.name, s.args.len(), s.children().len()))
            .collect::<Vec<_>>()
    );
    for e in errors {
        println!("{e:?}");
    }
}

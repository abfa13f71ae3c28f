//! The customer agent's tests, one binary (see `bot/`).

mod bot {
    pub mod conversation;
    pub mod kb;
    pub mod program;
    pub mod properties;
    pub mod protocol;
    pub mod route;
    pub mod triggers;
}

use dialect_bot::{BotConfig, Conversation, HandoffRules, KnowledgeBase, Mode, text};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The real knowledge base, `flows/kb/faq.toml`.
pub const FAQ: &str = include_str!("../../../flows/kb/faq.toml");

/// The real knowledge base, parsed once.
pub fn faq() -> Arc<KnowledgeBase> {
    static KB: OnceLock<Arc<KnowledgeBase>> = OnceLock::new();
    KB.get_or_init(|| Arc::new(KnowledgeBase::parse(FAQ).expect("faq.toml parses")))
        .clone()
}

/// Every program compiled from `flows/`, once.
pub fn programs() -> &'static [dialect_bytecode::Program] {
    static PROGRAMS: OnceLock<Vec<dialect_bytecode::Program>> = OnceLock::new();
    PROGRAMS.get_or_init(|| {
        let world = dialect_compiler::world::FsWorld::new(
            Some(root().join("stdlib")),
            &root().join("flows"),
        );
        let compilation = dialect_compiler::compile(&world, &[root().join("flows")]);
        assert!(!compilation.has_errors(), "flows/ compiles");
        compilation.programs
    })
}

/// The compiled campaign `name`.
pub fn program(name: &str) -> &'static dialect_bytecode::Program {
    programs()
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no campaign {name}"))
}

/// An embedded bot speaking Polish and English with these handoff
/// settings, answering from faq.toml.
pub fn embedded(mode: Mode, default_triggers: bool, triggers: &[&str]) -> Conversation {
    let mut config = BotConfig::new("test_bot");
    config.knowledge = Some("kb/faq.toml".into());
    config.languages = vec!["pl".into(), "en".into()];
    config.handoff = HandoffRules {
        default_triggers,
        mode,
        triggers: text::phrases(triggers),
        ..HandoffRules::default()
    };
    Conversation::new(Arc::new(config), Some(faq()), dialect_bot::Channel::Voice)
}

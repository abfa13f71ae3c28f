//! What proves each setting (issue 18): for every setting of every
//! declaration and block in [`crate::schema`], the test that shows its
//! effect at run time, the scenario that does, why it only matters at
//! compile time, or, for a setting the runtime does not carry out yet, what
//! is missing. `dialect explain` says so for those (see `docs.rs`), and
//! the test `every_setting_is_proven_or_says_it_is_pending` (tests/e2e/
//! settings.rs) walks the schema: a setting without an entry, an entry
//! without a setting, a test or scenario that does not exist, or a longer
//! pending list fails it.

/// How a setting's effect is proven.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proof {
    /// A test function: `path/to/file.rs::function`.
    Test(&'static str),
    /// A scenario: `path/to/file.test.toml::its name`.
    Scenario(&'static str),
    /// It only matters at compile time: why.
    Compile(&'static str),
    /// Nothing at run time carries it out yet: what is missing.
    Pending(&'static str),
}

/// The proof of `owner`'s `setting`, if it has one.
pub fn proof(owner: &str, setting: &str) -> Option<&'static Proof> {
    PROOFS
        .iter()
        .find(|(o, s, _)| *o == owner && *s == setting)
        .map(|(_, _, p)| p)
}

/// Every setting's proof: (owner, setting, proof).
pub const PROOFS: &[(&str, &str, Proof)] = &[];

//! The Dialect bytecode artifact: the compiled flow graph ([`graph`]), its
//! deterministic encoding ([`encode()`]), verified loading ([`load()`], which
//! runs [`verify()`]) and a stable text dump ([`dump()`]).
//!
//! The compiler writes artifacts with [`encode()`]; the runtime reads them
//! only through [`load()`], so a program the engine runs has always passed
//! the checks in [`verify()`].

pub mod assets;
pub mod dump;
pub mod encode;
pub mod graph;
pub mod load;
pub mod verify;

pub use dump::dump;
pub use encode::{
    ContentHash, FORMAT_VERSION, Header, MAGIC, compiler_version, content_hash, encode,
};
pub use graph::*;
pub use load::{LoadError, Loaded, load};
pub use verify::{Invalid, Place, Table, verify};

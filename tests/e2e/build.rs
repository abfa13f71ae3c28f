//! `dialect check` and `dialect build` over the real flows: clean, and
//! byte-identical artifacts from two builds and from a copy of the checkout
//! at another path.

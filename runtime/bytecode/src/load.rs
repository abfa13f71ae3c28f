//! Reading an artifact back: every check the runtime needs before it trusts
//! a file, in the order that gives the most useful error.
//!
//! The magic comes first (is this a Dialect artifact at all?), then the
//! format version (a newer layout may move everything after it), then the
//! lengths (was the file cut short or appended to?), then the hash (was it
//! corrupted?), then decoding, then [`verify`]. Every step reads the input
//! through checked accessors, so no input makes loading panic.

use crate::encode::{ContentHash, FORMAT_VERSION, Header, MAGIC, content_hash};
use crate::graph::Program;
use crate::verify::{Invalid, verify};
use serde::Deserialize;
use std::cell::Cell;

/// A loaded, verified artifact: what the engine shares between calls.
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded {
    /// The artifact's header, for logs and deployment records.
    pub header: Header,
    /// The program, already checked by [`verify`].
    pub program: Program,
    /// Who vouched for it: the public key (hex) whose signature over its
    /// hash was checked, when the loader checked one (`dialect serve
    /// --trust`); [`load`] leaves it `None`.
    pub signer: Option<String>,
}

/// Why an artifact was refused. Each variant names what went wrong and what
/// an operator can do about it, because these errors end up in a deployment
/// log rather than in front of the person who wrote the flow.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The file does not start with [`MAGIC`].
    #[error(
        "not a Dialect artifact: the file does not start with the `DIALECT` magic bytes; \
         check that the path points at a file written by `dialect build`"
    )]
    BadMagic,
    /// The file ends before the header or the declared payload does.
    #[error(
        "the artifact is truncated: it needs at least {needed} bytes but has {got}; \
         the copy was probably cut short, so copy it again or rebuild it with `dialect build`"
    )]
    Truncated {
        /// How many bytes the part being read needs, counted from the start.
        needed: u64,
        /// How many bytes the file has.
        got: u64,
    },
    /// The file goes on after the declared payload.
    #[error(
        "the artifact has {} after its payload (expected {expected} bytes, got {got}); \
         something was appended to it, so copy it again or rebuild it with `dialect build`",
        count_bytes(got.saturating_sub(*expected))
    )]
    TrailingBytes {
        /// The length the header declares, header included.
        expected: u64,
        /// How many bytes the file has.
        got: u64,
    },
    /// The artifact was written with a layout this runtime does not read.
    #[error(
        "the artifact has format version {found}, but this runtime reads only version \
         {supported}; rebuild the flows with the `dialect build` that matches this runtime, \
         or deploy a runtime that reads version {found}"
    )]
    UnsupportedVersion {
        /// The version in the file.
        found: u16,
        /// The version this runtime reads ([`FORMAT_VERSION`]).
        supported: u16,
    },
    /// The compiler version label is not printable ASCII, which the compiler
    /// never writes.
    #[error(
        "the artifact's compiler version label is not printable text, so its header is \
         corrupt; copy it again or rebuild it with `dialect build`"
    )]
    BadCompilerVersion,
    /// The payload does not hash to the value in the header.
    #[error(
        "the artifact is corrupt: its payload hashes to {actual}, but its header declares \
         {declared}; copy it again or rebuild it with `dialect build`"
    )]
    HashMismatch {
        /// The hash in the header.
        declared: ContentHash,
        /// The hash of the payload as read.
        actual: ContentHash,
    },
    /// The payload is intact but is not an encoded program.
    #[error(
        "the artifact's payload does not decode as a program: {0}; it was probably written \
         by a compiler build that does not match this runtime, so rebuild it with the \
         matching `dialect build`"
    )]
    Decode(String),
    /// The program decodes but breaks an invariant of the graph.
    #[error(
        "the artifact's program is invalid: {0}; the compiler should never write this, so \
         rebuild it, and if that does not help, report a bug with the flow sources"
    )]
    Invalid(Invalid),
}

/// Reads and checks an artifact written by [`encode`](crate::encode()).
///
/// Nothing in `bytes` is trusted: the function refuses the input with a
/// specific [`LoadError`] rather than panicking, whatever it contains.
pub fn load(bytes: &[u8]) -> Result<Loaded, LoadError> {
    let (header, payload) = split(bytes)?;
    let actual = content_hash(payload);
    if actual != header.hash {
        return Err(LoadError::HashMismatch {
            declared: header.hash,
            actual,
        });
    }
    let program = decode(payload)?;
    verify(&program).map_err(LoadError::Invalid)?;
    Ok(Loaded {
        header,
        program,
        signer: None,
    })
}

/// How deeply the payload's values may nest. The graph itself needs about
/// six levels and every nested setting list two more; without a limit a
/// crafted payload of nested lists would overflow the stack while decoding.
const MAX_DEPTH: usize = 64;

/// Splits an artifact into its header and its payload, checking everything
/// the header declares except the hash.
fn split(bytes: &[u8]) -> Result<(Header, &[u8]), LoadError> {
    let mut reader = Reader { bytes, rest: bytes };
    let magic: [u8; 8] = reader.take_array().map_err(|truncated| {
        if MAGIC.starts_with(bytes) {
            truncated
        } else {
            LoadError::BadMagic
        }
    })?;
    if magic != MAGIC {
        return Err(LoadError::BadMagic);
    }
    let format_version = u16::from_le_bytes(reader.take_array()?);
    if format_version != FORMAT_VERSION {
        return Err(LoadError::UnsupportedVersion {
            found: format_version,
            supported: FORMAT_VERSION,
        });
    }
    let version_len = u16::from_le_bytes(reader.take_array()?);
    let compiler_version = reader.take(usize::from(version_len))?;
    if compiler_version.is_empty() || !compiler_version.iter().all(u8::is_ascii_graphic) {
        return Err(LoadError::BadCompilerVersion);
    }
    let compiler_version = String::from_utf8_lossy(compiler_version).into_owned();
    let payload_len = u64::from_le_bytes(reader.take_array()?);
    let hash = ContentHash(reader.take_array()?);
    let header = Header {
        format_version,
        compiler_version,
        payload_len,
        hash,
    };
    let payload = reader.finish(payload_len)?;
    Ok((header, payload))
}

/// Decodes a payload whose hash has been checked, refusing left-over bytes
/// and values nested deeper than [`MAX_DEPTH`].
fn decode(payload: &[u8]) -> Result<Program, LoadError> {
    let too_deep = Cell::new(false);
    let mut deserializer = postcard::Deserializer::from_bytes(payload);
    let result = Program::deserialize(nesting::Limited::new(
        &mut deserializer,
        MAX_DEPTH,
        &too_deep,
    ));
    let rest = deserializer.finalize().map(<[u8]>::len).unwrap_or_default();
    let offset = payload.len().saturating_sub(rest);
    match result {
        Err(_) if too_deep.get() => Err(LoadError::Decode(format!(
            "values are nested more than {MAX_DEPTH} levels deep"
        ))),
        Err(error) => Err(LoadError::Decode(format!(
            "{error} at byte {offset} of the payload"
        ))),
        Ok(_) if rest > 0 => Err(LoadError::Decode(format!(
            "{} left over after the program",
            count_bytes(rest as u64)
        ))),
        Ok(program) => Ok(program),
    }
}

/// A byte count for messages: `1 byte`, `3 bytes`.
fn count_bytes(count: u64) -> String {
    if count == 1 {
        "1 byte".to_owned()
    } else {
        format!("{count} bytes")
    }
}

/// A cursor over the artifact that turns every short read into
/// [`LoadError::Truncated`].
struct Reader<'a> {
    /// The whole artifact, for the lengths in error messages.
    bytes: &'a [u8],
    /// What has not been read yet.
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads the next `len` bytes.
    fn take(&mut self, len: usize) -> Result<&'a [u8], LoadError> {
        let (head, rest) = self
            .rest
            .split_at_checked(len)
            .ok_or_else(|| self.truncated(len))?;
        self.rest = rest;
        Ok(head)
    }

    /// Reads the next `N` bytes as an array, for the fixed-size fields.
    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], LoadError> {
        let (head, rest) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or_else(|| self.truncated(N))?;
        self.rest = rest;
        Ok(*head)
    }

    /// Takes the payload, which must be exactly the rest of the file.
    fn finish(self, payload_len: u64) -> Result<&'a [u8], LoadError> {
        let have = self.rest.len() as u64;
        if have < payload_len {
            return Err(self.truncated_by(payload_len));
        }
        if have > payload_len {
            return Err(LoadError::TrailingBytes {
                expected: self.read_len().saturating_add(payload_len),
                got: self.bytes.len() as u64,
            });
        }
        Ok(self.rest)
    }

    /// How many bytes have been read so far.
    fn read_len(&self) -> u64 {
        self.bytes.len().saturating_sub(self.rest.len()) as u64
    }

    /// The error for a read of `len` bytes past the end.
    fn truncated(&self, len: usize) -> LoadError {
        self.truncated_by(len as u64)
    }

    /// The error for a read of `len` bytes past the end, for lengths that
    /// come from the file and may not fit in a `usize`.
    fn truncated_by(&self, len: u64) -> LoadError {
        LoadError::Truncated {
            needed: self.read_len().saturating_add(len),
            got: self.bytes.len() as u64,
        }
    }
}

/// A serde adapter that limits how deeply a value may nest.
///
/// Derived `Deserialize` code recurses once per nested value, so a payload of
/// a million nested lists would exhaust the stack, and postcard itself has
/// no limit. [`Limited`] wraps every piece of serde's deserialization
/// protocol (deserializer, visitor, sequence, map, enum, variant and seed)
/// and spends one unit of budget each time a value opens a nested level.
mod nesting {
    use serde::de::{
        self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess,
        Visitor,
    };
    use std::cell::Cell;
    use std::fmt;

    /// One piece of the deserialization protocol, with the nesting budget
    /// left at that point.
    pub(super) struct Limited<'t, T> {
        /// The wrapped piece.
        inner: T,
        /// How many more levels may open below this point.
        left: usize,
        /// Set when the budget ran out, because postcard drops the message
        /// of custom errors and the caller wants to say why decoding failed.
        too_deep: &'t Cell<bool>,
    }

    impl<'t, T> Limited<'t, T> {
        /// Wraps `inner` with a budget of `depth` levels.
        pub(super) fn new(inner: T, depth: usize, too_deep: &'t Cell<bool>) -> Self {
            Limited {
                inner,
                left: depth,
                too_deep,
            }
        }

        /// Wraps another piece at the same level.
        fn wrap<U>(&self, inner: U) -> Limited<'t, U> {
            Limited {
                inner,
                left: self.left,
                too_deep: self.too_deep,
            }
        }

        /// Wraps a piece one level further down, or fails when the budget is
        /// spent.
        fn descend<U, E: de::Error>(&self, inner: U) -> Result<Limited<'t, U>, E> {
            match self.left.checked_sub(1) {
                Some(left) => Ok(Limited {
                    inner,
                    left,
                    too_deep: self.too_deep,
                }),
                None => {
                    self.too_deep.set(true);
                    Err(E::custom("values are nested too deeply"))
                }
            }
        }
    }

    /// Forwards `deserialize_*` methods that take only a visitor.
    macro_rules! forward_deserialize {
        ($($method:ident)*) => {$(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
                let visitor = self.wrap(visitor);
                self.inner.$method(visitor)
            }
        )*};
    }

    impl<'de, D: Deserializer<'de>> Deserializer<'de> for Limited<'_, D> {
        type Error = D::Error;

        forward_deserialize! {
            deserialize_any deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32
            deserialize_i64 deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32
            deserialize_u64 deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char
            deserialize_str deserialize_string deserialize_bytes deserialize_byte_buf
            deserialize_option deserialize_unit deserialize_seq deserialize_map
            deserialize_identifier deserialize_ignored_any
        }

        fn deserialize_unit_struct<V: Visitor<'de>>(
            self,
            name: &'static str,
            visitor: V,
        ) -> Result<V::Value, D::Error> {
            let visitor = self.wrap(visitor);
            self.inner.deserialize_unit_struct(name, visitor)
        }

        fn deserialize_newtype_struct<V: Visitor<'de>>(
            self,
            name: &'static str,
            visitor: V,
        ) -> Result<V::Value, D::Error> {
            let visitor = self.wrap(visitor);
            self.inner.deserialize_newtype_struct(name, visitor)
        }

        fn deserialize_tuple<V: Visitor<'de>>(
            self,
            len: usize,
            visitor: V,
        ) -> Result<V::Value, D::Error> {
            let visitor = self.wrap(visitor);
            self.inner.deserialize_tuple(len, visitor)
        }

        fn deserialize_tuple_struct<V: Visitor<'de>>(
            self,
            name: &'static str,
            len: usize,
            visitor: V,
        ) -> Result<V::Value, D::Error> {
            let visitor = self.wrap(visitor);
            self.inner.deserialize_tuple_struct(name, len, visitor)
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            name: &'static str,
            fields: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, D::Error> {
            let visitor = self.wrap(visitor);
            self.inner.deserialize_struct(name, fields, visitor)
        }

        fn deserialize_enum<V: Visitor<'de>>(
            self,
            name: &'static str,
            variants: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, D::Error> {
            let visitor = self.wrap(visitor);
            self.inner.deserialize_enum(name, variants, visitor)
        }

        fn is_human_readable(&self) -> bool {
            self.inner.is_human_readable()
        }
    }

    /// Forwards `visit_*` methods for leaf values, which open no level.
    macro_rules! forward_visit {
        ($($method:ident: $ty:ty,)*) => {$(
            fn $method<E: de::Error>(self, value: $ty) -> Result<Self::Value, E> {
                self.inner.$method(value)
            }
        )*};
    }

    impl<'de, V: Visitor<'de>> Visitor<'de> for Limited<'_, V> {
        type Value = V::Value;

        fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.inner.expecting(formatter)
        }

        forward_visit! {
            visit_bool: bool, visit_i8: i8, visit_i16: i16, visit_i32: i32, visit_i64: i64,
            visit_i128: i128, visit_u8: u8, visit_u16: u16, visit_u32: u32, visit_u64: u64,
            visit_u128: u128, visit_f32: f32, visit_f64: f64, visit_char: char,
            visit_str: &str, visit_borrowed_str: &'de str, visit_string: String,
            visit_bytes: &[u8], visit_borrowed_bytes: &'de [u8], visit_byte_buf: Vec<u8>,
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            self.inner.visit_none()
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            self.inner.visit_unit()
        }

        fn visit_some<D: Deserializer<'de>>(self, inner: D) -> Result<Self::Value, D::Error> {
            let inner = self.descend(inner)?;
            self.inner.visit_some(inner)
        }

        fn visit_newtype_struct<D: Deserializer<'de>>(
            self,
            inner: D,
        ) -> Result<Self::Value, D::Error> {
            let inner = self.descend(inner)?;
            self.inner.visit_newtype_struct(inner)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            let seq = self.descend(seq)?;
            self.inner.visit_seq(seq)
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            let map = self.descend(map)?;
            self.inner.visit_map(map)
        }

        fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
            let data = self.descend(data)?;
            self.inner.visit_enum(data)
        }
    }

    impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Limited<'_, S> {
        type Value = S::Value;

        fn deserialize<D: Deserializer<'de>>(self, inner: D) -> Result<S::Value, D::Error> {
            let inner = self.wrap(inner);
            self.inner.deserialize(inner)
        }
    }

    impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Limited<'_, A> {
        type Error = A::Error;

        fn next_element_seed<T: DeserializeSeed<'de>>(
            &mut self,
            seed: T,
        ) -> Result<Option<T::Value>, A::Error> {
            let seed = self.wrap(seed);
            self.inner.next_element_seed(seed)
        }

        fn size_hint(&self) -> Option<usize> {
            self.inner.size_hint()
        }
    }

    impl<'de, A: MapAccess<'de>> MapAccess<'de> for Limited<'_, A> {
        type Error = A::Error;

        fn next_key_seed<K: DeserializeSeed<'de>>(
            &mut self,
            seed: K,
        ) -> Result<Option<K::Value>, A::Error> {
            let seed = self.wrap(seed);
            self.inner.next_key_seed(seed)
        }

        fn next_value_seed<V: DeserializeSeed<'de>>(
            &mut self,
            seed: V,
        ) -> Result<V::Value, A::Error> {
            let seed = self.wrap(seed);
            self.inner.next_value_seed(seed)
        }

        fn size_hint(&self) -> Option<usize> {
            self.inner.size_hint()
        }
    }

    impl<'t, 'de, A: EnumAccess<'de>> EnumAccess<'de> for Limited<'t, A> {
        type Error = A::Error;
        type Variant = Limited<'t, A::Variant>;

        fn variant_seed<T: DeserializeSeed<'de>>(
            self,
            seed: T,
        ) -> Result<(T::Value, Self::Variant), A::Error> {
            let seed = self.wrap(seed);
            let (value, variant) = self.inner.variant_seed(seed)?;
            Ok((
                value,
                Limited {
                    inner: variant,
                    left: self.left,
                    too_deep: self.too_deep,
                },
            ))
        }
    }

    impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Limited<'_, A> {
        type Error = A::Error;

        fn unit_variant(self) -> Result<(), A::Error> {
            self.inner.unit_variant()
        }

        fn newtype_variant_seed<T: DeserializeSeed<'de>>(
            self,
            seed: T,
        ) -> Result<T::Value, A::Error> {
            let seed = self.wrap(seed);
            self.inner.newtype_variant_seed(seed)
        }

        fn tuple_variant<V: Visitor<'de>>(
            self,
            len: usize,
            visitor: V,
        ) -> Result<V::Value, A::Error> {
            let visitor = self.wrap(visitor);
            self.inner.tuple_variant(len, visitor)
        }

        fn struct_variant<V: Visitor<'de>>(
            self,
            fields: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, A::Error> {
            let visitor = self.wrap(visitor);
            self.inner.struct_variant(fields, visitor)
        }
    }
}

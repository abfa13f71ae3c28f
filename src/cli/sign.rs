//! Signed artifacts: `dialect keygen`, `dialect build --sign KEY` and
//! `dialect serve --trust PUBKEY`.
//!
//! A signature is Ed25519 over the artifact's content hash (which covers
//! its assets' hashes), with a domain prefix so that it cannot be taken
//! for a signature of anything else. It travels next to the artifact, in
//! `CAMPAIGN.dialect.sig`: signing does not change what is signed, so a
//! signed and an unsigned build of the same flows have the same hash.
//!
//! Files (text, one line each):
//! - `NAME.key`: `dialect-ed25519-secret HEX`, the PKCS #8 key pair
//!   (written readable by its owner only);
//! - `NAME.pub`: `dialect-ed25519 HEX`, the 32-byte public key;
//! - `CAMPAIGN.dialect.sig`: `dialect-ed25519 PUBLIC-HEX SIGNATURE-HEX`.

use super::{OK, USAGE};
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use std::path::{Path, PathBuf};

const SECRET: &str = "dialect-ed25519-secret";
const PUBLIC: &str = "dialect-ed25519";

/// What is signed: a fixed prefix, then the artifact's content hash.
fn message(hash: &[u8; 32]) -> Vec<u8> {
    let mut message = b"dialect artifact v2\0".to_vec();
    message.extend_from_slice(hash);
    message
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Options of `dialect keygen`.
#[derive(clap::Args, Debug)]
pub struct KeygenArgs {
    /// Where to write the key pair: `PREFIX.key` (secret; keep it in the CI
    /// pipeline's secrets) and `PREFIX.pub` (for the hosts that trust it).
    #[arg(short = 'o', long = "out", default_value = "dialect")]
    out: PathBuf,
}

/// Runs `dialect keygen`.
pub fn keygen(args: &KeygenArgs) -> i32 {
    let secret = args.out.with_extension("key");
    let public = args.out.with_extension("pub");
    for path in [&secret, &public] {
        if path.exists() {
            eprintln!(
                "error: {} exists; a key is never overwritten (remove it first)",
                path.display()
            );
            return USAGE;
        }
    }
    let rng = ring::rand::SystemRandom::new();
    let Ok(document) = Ed25519KeyPair::generate_pkcs8(&rng) else {
        eprintln!("error: the operating system's random number generator failed");
        return USAGE;
    };
    let Ok(pair) = Ed25519KeyPair::from_pkcs8(document.as_ref()) else {
        eprintln!("error: the new key pair does not read back");
        return USAGE;
    };
    if let Err(err) = write_secret(&secret, &format!("{SECRET} {}\n", hex(document.as_ref()))) {
        eprintln!("error: cannot write {}: {err}", secret.display());
        return USAGE;
    }
    let line = format!("{PUBLIC} {}\n", hex(pair.public_key().as_ref()));
    if let Err(err) = std::fs::write(&public, &line) {
        eprintln!("error: cannot write {}: {err}", public.display());
        return USAGE;
    }
    println!(
        "wrote {} (secret) and {} (public: {})",
        secret.display(),
        public.display(),
        line.trim()
    );
    OK
}

/// Creates the secret key file, readable by its owner only.
fn write_secret(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(text.as_bytes())
}

/// A key pair read from a `.key` file, for `dialect build --sign`.
pub struct Signer(Ed25519KeyPair);

impl Signer {
    /// Reads `path`.
    pub fn read(path: &Path) -> Result<Signer, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the signing key {}: {e}", path.display()))?;
        let document = text
            .trim()
            .strip_prefix(SECRET)
            .map(str::trim)
            .and_then(unhex)
            .ok_or_else(|| {
                format!(
                    "{} is not a signing key written by `dialect keygen`",
                    path.display()
                )
            })?;
        Ed25519KeyPair::from_pkcs8(&document)
            .map(Signer)
            .map_err(|_| format!("{} holds a damaged signing key", path.display()))
    }

    /// Writes `ARTIFACT.sig` for an artifact whose content hash is `hash`.
    pub fn sign(&self, artifact: &Path, hash: &[u8; 32]) -> Result<PathBuf, String> {
        let signature = self.0.sign(&message(hash));
        let path = sig_path(artifact);
        let line = format!(
            "{PUBLIC} {} {}\n",
            hex(self.0.public_key().as_ref()),
            hex(signature.as_ref())
        );
        std::fs::write(&path, line).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(path)
    }
}

/// Where an artifact's signature is.
fn sig_path(artifact: &Path) -> PathBuf {
    let mut name = artifact.as_os_str().to_owned();
    name.push(".sig");
    PathBuf::from(name)
}

/// The public keys `dialect serve --trust` accepts signatures from.
#[derive(Clone, Debug, Default)]
pub struct Trusted(Vec<[u8; 32]>);

impl Trusted {
    /// Reads each `--trust` value: a `.pub` file, or its text (`dialect-ed25519
    /// HEX`, or the 64 hex digits alone).
    pub fn read(values: &[String]) -> Result<Trusted, String> {
        let mut keys = Vec::new();
        for value in values {
            let text = match std::fs::read_to_string(value) {
                Ok(text) => text,
                Err(_) if !Path::new(value).exists() => value.clone(),
                Err(e) => return Err(format!("--trust: cannot read {value}: {e}")),
            };
            let text = text.trim();
            let digits = text.strip_prefix(PUBLIC).map_or(text, str::trim);
            let key: [u8; 32] = unhex(digits)
                .and_then(|bytes| bytes.try_into().ok())
                .ok_or_else(|| {
                    format!(
                        "--trust: `{value}` is neither a public key written by `dialect keygen` nor 64 hex digits"
                    )
                })?;
            keys.push(key);
        }
        Ok(Trusted(keys))
    }

    /// Whether signatures are required at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Checks the signature beside `artifact` (whose content hash is
    /// `hash`): made by a trusted key over this hash. Returns the signer's
    /// public key (hex).
    pub fn check(&self, artifact: &Path, hash: &[u8; 32]) -> Result<String, String> {
        let path = sig_path(artifact);
        let text = std::fs::read_to_string(&path).map_err(|_| {
            format!(
                "{} is not signed ({} is missing), and this server trusts signed artifacts only",
                artifact.display(),
                path.display()
            )
        })?;
        let mut parts = text.split_whitespace();
        let (Some(PUBLIC), Some(key), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(format!("{} is not a signature", path.display()));
        };
        let (Some(key), Some(signature)) = (unhex(key), unhex(signature)) else {
            return Err(format!("{} is not a signature", path.display()));
        };
        if !self.0.iter().any(|k| k.as_slice() == key.as_slice()) {
            return Err(format!(
                "{} is signed by {}, a key this server does not trust",
                artifact.display(),
                hex(&key)
            ));
        }
        UnparsedPublicKey::new(&ED25519, &key)
            .verify(&message(hash), &signature)
            .map_err(|_| {
                format!(
                    "{}: the signature does not match the artifact (altered after signing, or signed for another build)",
                    artifact.display()
                )
            })?;
        Ok(hex(&key))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_signature_holds_for_its_hash_and_key_only() {
        let dir = std::env::temp_dir().join(format!("dialect-sign-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for name in ["a", "b"] {
            assert_eq!(
                keygen(&KeygenArgs {
                    out: dir.join(name)
                }),
                OK
            );
        }
        // A key is never overwritten.
        assert_eq!(keygen(&KeygenArgs { out: dir.join("a") }), USAGE);
        let signer = Signer::read(&dir.join("a.key")).unwrap();
        let artifact = dir.join("x.dialect");
        let hash = [7u8; 32];
        signer.sign(&artifact, &hash).unwrap();
        let a = dir.join("a.pub").display().to_string();
        let b = dir.join("b.pub").display().to_string();
        let trusted = Trusted::read(std::slice::from_ref(&a)).unwrap();
        assert!(trusted.check(&artifact, &hash).is_ok());
        let mut other = hash;
        other[0] ^= 1;
        assert!(
            trusted
                .check(&artifact, &other)
                .unwrap_err()
                .contains("does not match")
        );
        let stranger = Trusted::read(&[b]).unwrap();
        assert!(
            stranger
                .check(&artifact, &hash)
                .unwrap_err()
                .contains("does not trust")
        );
        std::fs::remove_file(sig_path(&artifact)).unwrap();
        assert!(
            trusted
                .check(&artifact, &hash)
                .unwrap_err()
                .contains("not signed")
        );
        assert!(Trusted::read(&["nonsense".into()]).is_err());
        assert!(Signer::read(&dir.join("a.pub")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! SRTP (RFC 3711) with the one suite SDES offers everywhere:
//! `AES_CM_128_HMAC_SHA1_80`. A [`Context`] protects the packets of one
//! direction of one stream, in place: AES in counter mode over the payload,
//! then an 80-bit HMAC-SHA1 tag over the header, the encrypted payload and
//! the rollover counter. The receiving side checks the tag before anything
//! else, refuses replays (a 64-packet window) and tracks the rollover
//! counter from sequence numbers (RFC 3711 §3.3.1). Nothing here allocates:
//! the keyed cipher and MAC are made once per context, and every packet is
//! worked on in the caller's buffer.

use aes::Aes128;
use aes::cipher::{BlockEncrypt, KeyInit, generic_array::GenericArray};
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// The master key's length, in bytes.
pub const MASTER_KEY: usize = 16;

/// The master salt's length, in bytes.
pub const MASTER_SALT: usize = 14;

/// The SDES `inline:` key: the master key, then the master salt.
pub const INLINE: usize = MASTER_KEY + MASTER_SALT;

/// The authentication tag's length, in bytes.
pub const TAG: usize = 10;

/// The suite's name in SDP (`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:…`).
pub const SUITE: &str = "AES_CM_128_HMAC_SHA1_80";

/// The packets behind the highest one received that are still accepted once.
const REPLAY_WINDOW: u64 = 64;

/// Why a packet was not unprotected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Not an RTP packet with room for a tag.
    Malformed,
    /// The tag does not match: forged or corrupted.
    Forged,
    /// Received before.
    Replayed,
}

/// One direction of one SRTP stream.
#[derive(Clone)]
pub struct Context {
    cipher: Aes128,
    salt: [u8; MASTER_SALT],
    mac: Hmac<Sha1>,
    /// The rollover counter and the highest sequence number seen (sent or
    /// received) with it.
    roc: u32,
    highest: Option<u16>,
    /// Received: which of the 64 indexes below the highest were seen.
    window: u64,
}

impl std::fmt::Debug for Context {
    /// Never shows key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("roc", &self.roc)
            .field("highest", &self.highest)
            .finish_non_exhaustive()
    }
}

/// The AES-CM keystream for `iv` (16 bytes: the counter is its last two
/// bytes) XORed into `data`.
fn apply_keystream(cipher: &Aes128, iv: [u8; 16], data: &mut [u8]) {
    for (counter, chunk) in data.chunks_mut(16).enumerate() {
        let mut block = iv;
        let [.., hi, lo] = &mut block;
        let count = u16::from_be_bytes([*hi, *lo]).wrapping_add(counter as u16);
        [*hi, *lo] = count.to_be_bytes();
        let mut block = GenericArray::from(block);
        cipher.encrypt_block(&mut block);
        for (byte, key) in chunk.iter_mut().zip(block.iter()) {
            *byte ^= key;
        }
    }
}

/// A session key of the master (RFC 3711 §4.3.1, key derivation rate 0):
/// the AES-CM keystream of the master key at IV `salt XOR label·2^48`.
fn derive(master: &[u8; INLINE], label: u8, out: &mut [u8]) {
    let (key, salt) = master.split_at(MASTER_KEY);
    let cipher = Aes128::new(GenericArray::from_slice(key));
    let mut iv = [0u8; 16];
    for (i, s) in iv.iter_mut().zip(salt) {
        *i = *s;
    }
    if let Some(byte) = iv.get_mut(7) {
        *byte ^= label;
    }
    out.fill(0);
    apply_keystream(&cipher, iv, out);
}

/// The length of an RTP packet's header (fixed part, CSRCs, extension), if
/// the packet holds it.
fn header_len(packet: &[u8]) -> Option<usize> {
    let first = *packet.first()?;
    if first >> 6 != 2 {
        return None;
    }
    let mut len = 12 + 4 * usize::from(first & 0x0f);
    if first & 0x10 != 0 {
        let words = packet.get(len + 2..len + 4)?;
        len += 4 + 4 * usize::from(u16::from_be_bytes([*words.first()?, *words.get(1)?]));
    }
    (len <= packet.len()).then_some(len)
}

impl Context {
    /// A context for the stream keyed by `master` (the 30 bytes of an SDES
    /// `inline:` key).
    pub fn new(master: &[u8; INLINE]) -> Context {
        let mut key = [0u8; MASTER_KEY];
        let mut auth = [0u8; 20];
        let mut salt = [0u8; MASTER_SALT];
        derive(master, 0, &mut key);
        derive(master, 1, &mut auth);
        derive(master, 2, &mut salt);
        Context {
            cipher: Aes128::new(&GenericArray::from(key)),
            salt,
            // HMAC takes a key of any length: this cannot fail.
            mac: <Hmac<Sha1> as Mac>::new_from_slice(&auth).unwrap_or_else(|_| unreachable_hmac()),
            roc: 0,
            highest: None,
            window: 0,
        }
    }

    /// The IV of the packet with `ssrc` and `index` (RFC 3711 §4.1.1).
    fn iv(&self, ssrc: [u8; 4], index: u64) -> [u8; 16] {
        let mut iv = [0u8; 16];
        for (i, s) in iv.iter_mut().zip(self.salt) {
            *i = s;
        }
        for (i, s) in iv.iter_mut().skip(4).zip(ssrc) {
            *i ^= s;
        }
        let index = index.to_be_bytes();
        for (i, s) in iv.iter_mut().skip(8).zip(index.iter().skip(2)) {
            *i ^= s;
        }
        iv
    }

    fn tag(&self, authenticated: &[u8], roc: u32) -> [u8; TAG] {
        let mut mac = self.mac.clone();
        mac.update(authenticated);
        mac.update(&roc.to_be_bytes());
        let full = mac.finalize().into_bytes();
        let mut tag = [0u8; TAG];
        for (t, f) in tag.iter_mut().zip(full.iter()) {
            *t = *f;
        }
        tag
    }

    /// Protects the RTP packet `buf[..len]` in place; the tag goes after
    /// it. Returns the SRTP packet's length, or `None` when `buf` has no
    /// room for the tag or `buf[..len]` is no RTP packet.
    pub fn protect(&mut self, buf: &mut [u8], len: usize) -> Option<usize> {
        let packet = buf.get(..len)?;
        let header = header_len(packet)?;
        let seq = u16::from_be_bytes([*packet.get(2)?, *packet.get(3)?]);
        let ssrc = [
            *packet.get(8)?,
            *packet.get(9)?,
            *packet.get(10)?,
            *packet.get(11)?,
        ];
        if buf.len() < len + TAG {
            return None;
        }
        // The sender's rollover counter: a sequence number far below the
        // highest one sent is a wrap.
        if let Some(highest) = self.highest {
            if seq < highest && highest - seq > 0x8000 {
                self.roc = self.roc.wrapping_add(1);
                self.highest = Some(seq);
            } else if seq > highest && seq - highest < 0x8000 {
                self.highest = Some(seq);
            }
        } else {
            self.highest = Some(seq);
        }
        let index = (u64::from(self.roc) << 16) | u64::from(seq);
        let iv = self.iv(ssrc, index);
        apply_keystream(&self.cipher, iv, buf.get_mut(header..len)?);
        let tag = self.tag(buf.get(..len)?, self.roc);
        buf.get_mut(len..len + TAG)?.copy_from_slice(&tag);
        Some(len + TAG)
    }

    /// Checks and decrypts the SRTP packet `buf[..len]` in place. Returns
    /// the RTP packet's length; a forged, corrupted or replayed packet
    /// changes nothing.
    pub fn unprotect(&mut self, buf: &mut [u8], len: usize) -> Result<usize, Refused> {
        let rtp_len = len.checked_sub(TAG).ok_or(Refused::Malformed)?;
        let packet = buf.get(..rtp_len).ok_or(Refused::Malformed)?;
        let header = header_len(packet).ok_or(Refused::Malformed)?;
        let field = |i: usize| packet.get(i).copied().ok_or(Refused::Malformed);
        let seq = u16::from_be_bytes([field(2)?, field(3)?]);
        let ssrc = [field(8)?, field(9)?, field(10)?, field(11)?];
        // The rollover counter this packet was sent with (§3.3.1).
        let roc = match self.highest {
            None => self.roc,
            Some(s_l) if s_l < 0x8000 => {
                if seq > s_l && seq - s_l > 0x8000 {
                    self.roc.wrapping_sub(1)
                } else {
                    self.roc
                }
            }
            Some(s_l) => {
                if s_l - 0x8000 > seq {
                    self.roc.wrapping_add(1)
                } else {
                    self.roc
                }
            }
        };
        let index = (u64::from(roc) << 16) | u64::from(seq);
        let highest = self
            .highest
            .map(|s| (u64::from(self.roc) << 16) | u64::from(s));
        if let Some(highest) = highest
            && index <= highest
        {
            let behind = highest - index;
            if behind >= REPLAY_WINDOW || self.window & (1 << behind) != 0 {
                return Err(Refused::Replayed);
            }
        }
        let expected = self.tag(packet, roc);
        let tag = buf.get(rtp_len..len).ok_or(Refused::Malformed)?;
        // Constant time: every byte is compared whatever the first says.
        let differ = tag
            .iter()
            .zip(expected.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if differ != 0 {
            return Err(Refused::Forged);
        }
        let iv = self.iv(ssrc, index);
        apply_keystream(
            &self.cipher,
            iv,
            buf.get_mut(header..rtp_len).ok_or(Refused::Malformed)?,
        );
        match highest {
            Some(highest) if index <= highest => self.window |= 1 << (highest - index),
            Some(highest) => {
                let ahead = index - highest;
                self.window = if ahead >= REPLAY_WINDOW {
                    1
                } else {
                    (self.window << ahead) | 1
                };
                self.roc = roc;
                self.highest = Some(seq);
            }
            None => {
                self.window = 1;
                self.roc = roc;
                self.highest = Some(seq);
            }
        }
        Ok(rtp_len)
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The SDES `inline:` text of a master key and salt (base64, RFC 4648).
pub fn inline(master: &[u8; INLINE]) -> String {
    let mut out = String::with_capacity(40);
    for chunk in master.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                let c = ALPHABET
                    .get(((n >> shift) & 63) as usize)
                    .copied()
                    .unwrap_or(b'A');
                out.push(char::from(c));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The master key and salt of an SDES `inline:` text: exactly 30 bytes of
/// base64, or `None`.
pub fn master_from_inline(text: &str) -> Option<[u8; INLINE]> {
    let mut bits = 0u32;
    let mut count = 0u32;
    let mut out = [0u8; INLINE];
    let mut len = 0;
    for c in text.trim_end_matches('=').bytes() {
        let value = ALPHABET.iter().position(|a| *a == c)? as u32;
        bits = (bits << 6) | value;
        count += 6;
        if count >= 8 {
            count -= 8;
            *out.get_mut(len)? = (bits >> count) as u8;
            len += 1;
        }
    }
    (len == INLINE).then_some(out)
}

#[cold]
fn unreachable_hmac() -> Hmac<Sha1> {
    // `new_from_slice` refuses no key length for HMAC; should that ever
    // change, a zero key still gives a working (if useless) MAC rather
    // than a panic on the media path.
    <Hmac<Sha1> as KeyInit>::new(&GenericArray::default())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn master(key: &str, salt: &str) -> [u8; INLINE] {
        let mut m = [0u8; INLINE];
        m[..16].copy_from_slice(&hex(key));
        m[16..].copy_from_slice(&hex(salt));
        m
    }

    #[test]
    fn inline_keys_are_base64_of_30_bytes() {
        let m = keys();
        let text = inline(&m);
        assert_eq!(text.len(), 40);
        assert_eq!(master_from_inline(&text), Some(m));
        // RFC 4568's example key decodes to 30 bytes.
        assert!(master_from_inline("WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz").is_some());
        assert_eq!(master_from_inline("c2hvcnQ="), None);
        assert_eq!(master_from_inline("not base64!"), None);
    }

    /// RFC 3711 appendix B.3.
    #[test]
    fn session_keys_are_derived_as_rfc_3711_b3_says() {
        let m = master(
            "E1F97A0D3E018BE0D64FA32C06DE4139",
            "0EC675AD498AFEEBB6960B3AABE6",
        );
        let mut key = [0u8; 16];
        derive(&m, 0, &mut key);
        assert_eq!(key.to_vec(), hex("C61E7A93744F39EE10734AFE3FF7A087"));
        let mut salt = [0u8; 14];
        derive(&m, 2, &mut salt);
        assert_eq!(salt.to_vec(), hex("30CBBC08863D8C85D49DB34A9AE1"));
        let mut auth = [0u8; 20];
        derive(&m, 1, &mut auth);
        assert_eq!(
            auth.to_vec(),
            hex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4")
        );
    }

    /// AES-CM as NIST SP 800-38A F.5.1 (the first block).
    #[test]
    fn the_keystream_is_aes_in_counter_mode() {
        let cipher = Aes128::new(GenericArray::from_slice(&hex(
            "2B7E151628AED2A6ABF7158809CF4F3C",
        )));
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFDFEFF"));
        let mut data = hex("6BC1BEE22E409F96E93D7E117393172A");
        apply_keystream(&cipher, iv, &mut data);
        assert_eq!(data, hex("874D6191B620E3261BEF6864990DB6CE"));
    }

    fn rtp(seq: u16, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, 0, 0, 0, 0, 0, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef];
        p[2..4].copy_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    fn keys() -> [u8; INLINE] {
        let mut m = [0u8; INLINE];
        for (i, b) in m.iter_mut().enumerate() {
            *b = i as u8 * 7 + 1;
        }
        m
    }

    #[test]
    fn a_protected_packet_round_trips_and_hides_its_payload() {
        let (mut tx, mut rx) = (Context::new(&keys()), Context::new(&keys()));
        let plain = rtp(7, &[0x55; 160]);
        let mut buf = [0u8; 512];
        buf[..plain.len()].copy_from_slice(&plain);
        let len = tx.protect(&mut buf, plain.len()).unwrap();
        assert_eq!(len, plain.len() + TAG);
        assert_eq!(buf[..12], plain[..12], "the header stays readable");
        assert_ne!(buf[12..172], plain[12..], "the payload is encrypted");
        let out = rx.unprotect(&mut buf, len).unwrap();
        assert_eq!(&buf[..out], &plain[..]);
    }

    #[test]
    fn forged_corrupted_and_replayed_packets_are_refused() {
        let (mut tx, mut rx) = (Context::new(&keys()), Context::new(&keys()));
        let mut stranger = Context::new(&[9u8; INLINE]);
        let plain = rtp(100, &[1, 2, 3, 4]);
        let mut buf = [0u8; 64];
        buf[..plain.len()].copy_from_slice(&plain);
        let len = stranger.protect(&mut buf, plain.len()).unwrap();
        assert_eq!(rx.unprotect(&mut buf, len), Err(Refused::Forged));
        buf[..plain.len()].copy_from_slice(&plain);
        let len = tx.protect(&mut buf, plain.len()).unwrap();
        let sent = buf;
        buf[13] ^= 1;
        assert_eq!(rx.unprotect(&mut buf, len), Err(Refused::Forged));
        buf = sent;
        assert!(rx.unprotect(&mut buf, len).is_ok());
        buf = sent;
        assert_eq!(rx.unprotect(&mut buf, len), Err(Refused::Replayed));
        // Plain RTP with 10 bytes of anything after it.
        let mut plain_buf = [0u8; 64];
        plain_buf[..plain.len()].copy_from_slice(&rtp(101, &[1, 2, 3, 4]));
        assert_eq!(
            rx.unprotect(&mut plain_buf, plain.len() + TAG),
            Err(Refused::Forged)
        );
        assert_eq!(rx.unprotect(&mut buf, 5), Err(Refused::Malformed));
    }

    #[test]
    fn the_rollover_counter_follows_sequence_wraps_and_late_packets() {
        let (mut tx, mut rx) = (Context::new(&keys()), Context::new(&keys()));
        let mut sent = Vec::new();
        for seq in (65_500u16..=65_535).chain(0..40) {
            let plain = rtp(seq, &[seq as u8; 20]);
            let mut buf = [0u8; 64];
            buf[..plain.len()].copy_from_slice(&plain);
            let len = tx.protect(&mut buf, plain.len()).unwrap();
            sent.push((buf, len, plain));
        }
        assert_eq!(tx.roc, 1);
        // Delivered out of order near the wrap: a late packet from before
        // it is still accepted once.
        sent.swap(35, 37);
        for (mut buf, len, plain) in sent {
            let out = rx.unprotect(&mut buf, len).unwrap();
            assert_eq!(&buf[..out], &plain[..]);
        }
        assert_eq!(rx.roc, 1);
    }
}

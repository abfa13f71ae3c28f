//! Record fields' types (SPEC 3.2, seed 004): the Polish identifiers with
//! their checksums, phone numbers and e-mail addresses. Each check says
//! what is wrong, for an import report or an agent's form.

use std::fmt;

/// A field type of the language (`field x { type pesel }`), or a system
/// field's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    /// Free text.
    Text,
    /// PESEL: 11 digits, the last a checksum.
    Pesel,
    /// NIP: 10 digits, the last a checksum.
    Nip,
    /// REGON: 9 or 14 digits, the last a checksum.
    Regon,
    /// A phone number, kept as E.164.
    Phone,
    /// An e-mail address.
    Email,
}

impl FieldType {
    /// The type a flow names (`none`, `pesel`, `nip`, `regon`).
    pub fn from_flow(name: &str) -> FieldType {
        match name {
            "pesel" => FieldType::Pesel,
            "nip" => FieldType::Nip,
            "regon" => FieldType::Regon,
            _ => FieldType::Text,
        }
    }
}

/// Why a value is not of its type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid(pub String);

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks `value` against `kind`; returns the value as stored (a phone
/// number as E.164, identifiers without spaces or dashes).
pub fn check(kind: FieldType, value: &str, country_code: &str) -> Result<String, Invalid> {
    let value = value.trim();
    match kind {
        FieldType::Text => Ok(value.to_string()),
        FieldType::Pesel => checksum(value, "PESEL", &[11], pesel_ok),
        FieldType::Nip => checksum(value, "NIP", &[10], nip_ok),
        FieldType::Regon => checksum(value, "REGON", &[9, 14], regon_ok),
        FieldType::Phone => phone(value, country_code),
        FieldType::Email => email(value),
    }
}

fn digits_of(value: &str) -> Option<Vec<u32>> {
    value
        .chars()
        .filter(|c| *c != ' ' && *c != '-')
        .map(|c| c.to_digit(10))
        .collect()
}

fn checksum(
    value: &str,
    name: &str,
    lengths: &[usize],
    ok: fn(&[u32]) -> bool,
) -> Result<String, Invalid> {
    let Some(digits) = digits_of(value) else {
        return Err(Invalid(format!(
            "{name} `{value}` has characters other than digits"
        )));
    };
    if !lengths.contains(&digits.len()) {
        let want = lengths
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(" or ");
        return Err(Invalid(format!(
            "{name} `{value}` has {} digits, not {want}",
            digits.len()
        )));
    }
    if !ok(&digits) {
        return Err(Invalid(format!(
            "{name} `{value}` has a wrong check digit (a typing error?)"
        )));
    }
    Ok(digits
        .iter()
        .filter_map(|d| char::from_digit(*d, 10))
        .collect())
}

fn weighted(digits: &[u32], weights: &[u32]) -> u32 {
    digits.iter().zip(weights).map(|(d, w)| d * w).sum()
}

/// PESEL: weights 1 3 7 9 1 3 7 9 1 3; the check digit makes the sum a
/// multiple of 10. The birth month (with its century offset) must exist.
fn pesel_ok(d: &[u32]) -> bool {
    let (Some(last), Some(m1), Some(m2)) = (d.last(), d.get(2), d.get(3)) else {
        return false;
    };
    let month = (m1 * 10 + m2) % 20;
    (1..=12).contains(&month)
        && (10 - weighted(d, &[1, 3, 7, 9, 1, 3, 7, 9, 1, 3]) % 10) % 10 == *last
}

/// NIP: weights 6 5 7 2 3 4 5 6 7; the sum modulo 11 is the check digit
/// (never 10).
fn nip_ok(d: &[u32]) -> bool {
    let check = weighted(d, &[6, 5, 7, 2, 3, 4, 5, 6, 7]) % 11;
    check != 10 && d.last() == Some(&check)
}

/// REGON: 9 digits (weights 8 9 2 3 4 5 6 7) or 14 (weights 2 4 8 5 0 9 7
/// 3 6 1 2 4 8); the sum modulo 11 is the check digit, 10 counting as 0.
fn regon_ok(d: &[u32]) -> bool {
    let weights: &[u32] = if d.len() == 9 {
        &[8, 9, 2, 3, 4, 5, 6, 7]
    } else {
        &[2, 4, 8, 5, 0, 9, 7, 3, 6, 1, 2, 4, 8]
    };
    let check = weighted(d, weights) % 11 % 10;
    d.last() == Some(&check)
}

/// A phone number as E.164: `+` and 7 to 15 digits; a national number
/// (no `+` or `00`) gets `country_code` (digits, e.g. `48`).
pub fn phone(value: &str, country_code: &str) -> Result<String, Invalid> {
    let compact: String = value
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
        .collect();
    let (international, digits) = if let Some(rest) = compact.strip_prefix('+') {
        (true, rest.to_string())
    } else if let Some(rest) = compact.strip_prefix("00") {
        (true, rest.to_string())
    } else {
        (false, compact.clone())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(Invalid(format!("`{value}` is not a phone number")));
    }
    let full = if international {
        digits
    } else {
        format!("{}{digits}", country_code.trim_start_matches('+'))
    };
    if !(crate::validate::MIN_DIGITS..=crate::validate::MAX_DIGITS).contains(&full.len()) {
        return Err(Invalid(format!(
            "`{value}` has {} digits with its country code, not 7 to 15",
            full.len()
        )));
    }
    Ok(format!("+{full}"))
}

/// An e-mail address: one `@`, a non-empty local part, a domain with a dot
/// and no spaces.
pub fn email(value: &str) -> Result<String, Invalid> {
    let bad = || Invalid(format!("`{value}` is not an e-mail address"));
    let (local, domain) = value.split_once('@').ok_or_else(bad)?;
    let plain = |s: &str| !s.is_empty() && !s.contains(char::is_whitespace) && !s.contains('@');
    if !plain(local)
        || !plain(domain)
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || value.len() > 254
    {
        return Err(bad());
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    // Published examples: the PESEL of the Polish Wikipedia article
    // (44051401359), the NIP and REGONs of the public sector's test data
    // (1234563218, 123456785, 12345678512347), and the Ministry of
    // Finance's own NIP (5260250274).
    #[test]
    fn published_identifiers_are_valid() {
        assert_eq!(
            check(FieldType::Pesel, "44051401359", "48").unwrap(),
            "44051401359"
        );
        assert_eq!(
            check(FieldType::Nip, "123-456-32-18", "48").unwrap(),
            "1234563218"
        );
        assert_eq!(
            check(FieldType::Nip, "5260250274", "48").unwrap(),
            "5260250274"
        );
        assert_eq!(
            check(FieldType::Regon, "123456785", "48").unwrap(),
            "123456785"
        );
        assert_eq!(
            check(FieldType::Regon, "12345678512347", "48").unwrap(),
            "12345678512347"
        );
    }

    #[test]
    fn typing_errors_are_caught_with_their_reason() {
        for (kind, value, says) in [
            (FieldType::Pesel, "44051401358", "check digit"),
            (FieldType::Pesel, "44151401359", "check digit"),
            (FieldType::Pesel, "4405140135", "10 digits, not 11"),
            (FieldType::Pesel, "4405140135X", "other than digits"),
            (FieldType::Nip, "1234563217", "check digit"),
            (FieldType::Nip, "123456321", "9 digits, not 10"),
            (FieldType::Regon, "123456784", "check digit"),
            (FieldType::Regon, "12345678512346", "check digit"),
            (FieldType::Regon, "1234567851", "10 digits, not 9 or 14"),
            (FieldType::Phone, "call me", "not a phone number"),
            (FieldType::Phone, "+48 12", "not 7 to 15"),
            (FieldType::Email, "jan.kowalski", "not an e-mail"),
            (FieldType::Email, "jan@localhost", "not an e-mail"),
            (FieldType::Email, "jan kowalski@example.pl", "not an e-mail"),
        ] {
            let err = check(kind, value, "48").unwrap_err();
            assert!(err.0.contains(says), "{value}: {err}");
        }
    }

    #[test]
    fn phone_numbers_become_e164() {
        assert_eq!(phone("600 100 200", "48").unwrap(), "+48600100200");
        assert_eq!(phone("+48 (22) 100-00-02", "48").unwrap(), "+48221000002");
        assert_eq!(phone("0047 22 00 00 00", "48").unwrap(), "+4722000000");
        assert_eq!(email("jan@example.pl").unwrap(), "jan@example.pl");
    }
}

//! The one-time enrolment code IT hands a warden: `gw1.SECRET.FINGERPRINT.ADDR`.
//! It carries everything a device needs to reach and trust the server: the
//! address to dial, the SHA-256 fingerprint of the server certificate to pin,
//! and the secret that proves the device belongs to a user.

use crate::ProtocolError;

const PREFIX: &str = "gw1";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnrolmentCode {
    pub secret: String,
    /// SHA-256 of the server certificate (DER).
    pub fingerprint: [u8; 32],
    /// `host:port` the device dials.
    pub server_addr: String,
}

impl EnrolmentCode {
    pub fn encode(&self) -> String {
        format!(
            "{PREFIX}.{}.{}.{}",
            self.secret,
            hex(&self.fingerprint),
            self.server_addr
        )
    }

    pub fn parse(code: &str) -> Result<Self, ProtocolError> {
        let bad = |why: &str| {
            ProtocolError::Invalid(format!(
                "this is not a gridwarden enrolment code ({why}); ask IT for a new one"
            ))
        };
        let mut parts = code.trim().splitn(4, '.');
        if parts.next() != Some(PREFIX) {
            return Err(bad("it must start with gw1."));
        }
        let secret = parts
            .next()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad("no secret"))?;
        if !secret.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(bad("the secret has unexpected characters"));
        }
        let fp = parts.next().ok_or_else(|| bad("no fingerprint"))?;
        let fingerprint =
            parse_hex32(fp).ok_or_else(|| bad("the fingerprint is not 64 hex digits"))?;
        let server_addr = parts
            .next()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad("no address"))?;
        Ok(Self {
            secret: secret.to_owned(),
            fingerprint,
            server_addr: server_addr.to_owned(),
        })
    }
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses 64 hex digits (colons allowed, as `openssl` prints them).
pub fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    let digits: Vec<u8> = s.bytes().filter(|b| *b != b':').collect();
    if digits.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in digits.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_ipv4_ipv6_and_names() {
        for addr in ["127.0.0.1:4433", "[::1]:4433", "sync.city.example:443"] {
            let c = EnrolmentCode {
                secret: "abc123".into(),
                fingerprint: [7; 32],
                server_addr: addr.into(),
            };
            assert_eq!(EnrolmentCode::parse(&c.encode()).unwrap(), c);
        }
    }

    #[test]
    fn refuses_other_strings_with_a_useful_message() {
        for s in ["", "hello", "gw1.", "gw1.abc.zz.127.0.0.1:1", "gw2.a.00.x"] {
            let e = EnrolmentCode::parse(s).unwrap_err().to_string();
            assert!(e.contains("enrolment code"), "{s}: {e}");
        }
    }
}

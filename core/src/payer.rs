//! The payer's side: an agent reads its own ledger events, with no account and no API key,
//! by signing a short message with the wallet that paid (EIP-191 `personal_sign`).
//!
//! 1. `GET /.well-known/x402/nonce` → `{"nonce", "expiresAt"}`: a server-issued nonce,
//!    sealed with a key derived from the receipt key (so that any isolate can tell it is
//!    ours without storing it), valid [`NONCE_SECONDS`].
//! 2. The payer signs [`message`]: this host, its address, the nonce and an expiry at most
//!    [`MAX_MESSAGE_SECONDS`] away.
//! 3. `POST /.well-known/x402/payments` with `{"message", "signature"}` (and optional
//!    `since`, `until`, `limit`, `cursor`, as for the admin ledger): the signer must be the
//!    message's payer, the host this one, the message and nonce unexpired, and the nonce
//!    unused (it is spent with the arbiter); else 401. The answer is the payer's events,
//!    one JSON object per line.

use crate::address::EvmAddress;
use crate::codec::{base64url_decode, base64url_encode, hex_decode_fixed};
use crate::crypto::keccak256;
use crate::eip712::recover_signer;
use crate::json::{required, whole, JsonError};
use crate::ledger::{iso8601, parse_iso8601};
use crate::receipt::ReceiptSigner;

/// Where a nonce is issued.
pub const NONCE_PATH: &str = "/.well-known/x402/nonce";
/// Where a payer reads its events.
pub const PAYMENTS_PATH: &str = "/.well-known/x402/payments";
/// How long a nonce may be used after it is issued.
pub const NONCE_SECONDS: u64 = 300;
/// How far ahead a message may expire.
pub const MAX_MESSAGE_SECONDS: u64 = 300;
/// The first line of every message.
pub const TITLE: &str = "x402-edge: read my payments";

const NONCE_DOMAIN: &[u8] = b"x402-edge/payer-nonce/v1\0";

fn seal(signer: &ReceiptSigner, expires_s: u64, random: &str) -> String {
    let data = format!("{expires_s}.{random}");
    base64url_encode(&signer.derive(NONCE_DOMAIN, data.as_bytes())[..16])
}

/// A nonce valid until `now_s` + [`NONCE_SECONDS`]: `expiry.random.seal`.
pub fn issue_nonce(signer: &ReceiptSigner, random: [u8; 16], now_s: u64) -> (String, u64) {
    let expires = now_s + NONCE_SECONDS;
    let random = base64url_encode(&random);
    (format!("{expires}.{random}.{}", seal(signer, expires, &random)), expires)
}

/// When a nonce of ours expires, if it is one and has not expired at `now_s`.
pub fn nonce_expiry(signer: &ReceiptSigner, nonce: &str, now_s: u64) -> Option<u64> {
    let mut parts = nonce.split('.');
    let (expires, random, sealed) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !expires.bytes().all(|b| b.is_ascii_digit()) || expires.len() > 12 {
        return None;
    }
    let expires_s: u64 = expires.parse().ok()?;
    let genuine = base64url_decode(random).is_ok_and(|r| r.len() == 16) && seal(signer, expires_s, random) == sealed;
    (genuine && expires_s > now_s && expires_s <= now_s + NONCE_SECONDS).then_some(expires_s)
}

/// The arbiter shard that spends a nonce.
pub fn nonce_shard(nonce: &str) -> u32 {
    crate::crypto::shard_of(nonce, crate::once::SHARDS)
}

/// The message a payer signs.
pub fn message(host: &str, payer: &str, nonce: &str, expires_s: u64) -> String {
    format!("{TITLE}\nHost: {host}\nPayer: {payer}\nNonce: {nonce}\nExpires: {}", iso8601(expires_s * 1000))
}

/// Why a payer's request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayerError {
    /// The body is not `{"message", "signature", …}` (400).
    Malformed(&'static str),
    /// Signed by someone else, for another host, expired, a nonce not ours (401).
    Unauthorized(&'static str),
}

impl PayerError {
    /// The status.
    pub fn status(&self) -> u16 {
        match self {
            Self::Malformed(_) => 400,
            Self::Unauthorized(_) => 401,
        }
    }

    /// The JSON body.
    pub fn body(&self) -> String {
        match self {
            Self::Malformed(why) => format!(r#"{{"error":"bad_request","reason":"{why}"}}"#),
            Self::Unauthorized(why) => format!(r#"{{"error":"payer_unauthorized","reason":"{why}"}}"#),
        }
    }
}

/// A checked request: who signed it, the nonce to spend (and when it expires), and the
/// query of the ledger read (`since`…`cursor`, as a query string for `LedgerParams`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The payer, lower case.
    pub payer: String,
    /// The nonce, to be spent once.
    pub nonce: String,
    /// When the nonce expires (unix s).
    pub nonce_expires_s: u64,
    /// The read's parameters, as a query string.
    pub query: String,
}

struct Body {
    message: String,
    signature: String,
    query: String,
}

fn body(json: &str) -> Result<Body, JsonError> {
    whole(json, |r| {
        let (mut message, mut signature, mut query) = (None, None, Vec::new());
        r.object(|r, key| {
            match key {
                "message" => message = Some(r.string()?),
                "signature" => signature = Some(r.string()?),
                "since" | "until" | "cursor" | "limit" => {
                    let value = match r.string_or_null() {
                        Ok(v) => v.unwrap_or_default(),
                        Err(_) => r.u64()?.to_string(),
                    };
                    let safe = value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-:._".contains(&b));
                    if !safe {
                        return Err(r.error("a plain value"));
                    }
                    query.push(format!("{key}={value}"));
                }
                _ => r.skip()?,
            }
            Ok(())
        })?;
        Ok(Body {
            message: required(message, r, "message")?,
            signature: required(signature, r, "signature")?,
            query: query.join("&"),
        })
    })
}

/// The EIP-191 digest of a `personal_sign` message.
pub fn personal_digest(message: &str) -> [u8; 32] {
    let mut data = format!("\x19Ethereum Signed Message:\n{}", message.len()).into_bytes();
    data.extend_from_slice(message.as_bytes());
    keccak256(&data)
}

/// Checks a `POST /.well-known/x402/payments` body for the request's `host` at `now_s`.
/// The nonce is not spent here: the edge spends it with the arbiter, once.
pub fn check(json: &str, host: &str, now_s: u64, signer: &ReceiptSigner) -> Result<Checked, PayerError> {
    let b = body(json).map_err(|_| PayerError::Malformed("the body is not {\"message\", \"signature\"}"))?;
    let mut lines = b.message.split('\n');
    let mut field = |name: &str| lines.next().and_then(|l| l.strip_prefix(name)).map(str::to_string);
    let title = field(TITLE).filter(String::is_empty);
    let (m_host, m_payer, m_nonce, m_expires) =
        (field("Host: "), field("Payer: "), field("Nonce: "), field("Expires: "));
    let (Some(_), Some(m_host), Some(m_payer), Some(m_nonce), Some(m_expires)) =
        (title, m_host, m_payer, m_nonce, m_expires)
    else {
        return Err(PayerError::Malformed("the message is not the one GET /.well-known/x402/nonce describes"));
    };
    if lines.next().is_some() {
        return Err(PayerError::Malformed("the message has more lines"));
    }
    let payer = EvmAddress::parse(&m_payer).map_err(|_| PayerError::Malformed("Payer is not an address"))?;
    let expires_ms = parse_iso8601(&m_expires).ok_or(PayerError::Malformed("Expires is not an ISO 8601 instant"))?;
    if !m_host.eq_ignore_ascii_case(host) {
        return Err(PayerError::Unauthorized("signed for another host"));
    }
    if expires_ms <= now_s * 1000 {
        return Err(PayerError::Unauthorized("the message has expired"));
    }
    if expires_ms > (now_s + MAX_MESSAGE_SECONDS) * 1000 {
        return Err(PayerError::Unauthorized("the message expires more than 5 minutes ahead"));
    }
    let nonce_expires_s = nonce_expiry(signer, &m_nonce, now_s)
        .ok_or(PayerError::Unauthorized("the nonce is not ours or has expired"))?;
    let digits = b.signature.strip_prefix("0x").unwrap_or(&b.signature);
    let signature =
        hex_decode_fixed::<65>(digits).map_err(|_| PayerError::Malformed("the signature is not 65 bytes of hex"))?;
    let signer_of = recover_signer(&personal_digest(&b.message), &signature)
        .map_err(|_| PayerError::Unauthorized("the signature does not recover"))?;
    if signer_of != payer {
        return Err(PayerError::Unauthorized("signed by another address than Payer"));
    }
    let payer = payer.checksummed().to_ascii_lowercase();
    let query = if b.query.is_empty() { format!("payer={payer}") } else { format!("{}&payer={payer}", b.query) };
    Ok(Checked { payer, nonce: m_nonce, nonce_expires_s, query })
}

#[cfg(test)]
mod tests;

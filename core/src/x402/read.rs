//! Reading the payment payloads a client sends (`PaymentPayloadV2`, `PaymentPayloadV1`)
//! with the JSON pull reader, as strictly as the serde derives of these types read them
//! (the derives stay for the tests, which check the two against each other on generated
//! inputs): every field at most once (a payload whose duplicate field we and a facilitator
//! could read differently is refused), required fields present, no `null` for a value
//! that is not optional, unknown fields passed over except in `authorization`, which has
//! none. Leaving the derives out of the bundle keeps their visitors out of the wasm.

use serde_json::{Map, Value};

use super::{
    Authorization, Bytes32, ExactEvmPayload, Exactly, HexBytes, PaymentPayloadV1, PaymentPayloadV2, RequirementsV2,
    ResourceInfo,
};
use crate::address::EvmAddress;
use crate::amount::Amount;
use crate::codec::hex_decode_fixed;
use crate::json::{optional, required, whole, JsonError, Reader};

type Read<T> = Result<T, JsonError>;

/// Fills `slot` with the value `read` reads; a second value for the same field is refused.
fn once<T>(slot: &mut Option<T>, r: &mut Reader<'_>, read: impl FnOnce(&mut Reader<'_>) -> Read<T>) -> Read<()> {
    let value = read(r)?;
    if slot.is_some() {
        return Err(r.error("each field once"));
    }
    *slot = Some(value);
    Ok(())
}

/// A string that `parse` turns into a value.
fn parsed<T, E>(r: &mut Reader<'_>, what: &'static str, parse: impl FnOnce(&str) -> Result<T, E>) -> Read<T> {
    let text = r.string()?;
    parse(&text).map_err(|_| r.error(what))
}

fn address(r: &mut Reader<'_>) -> Read<EvmAddress> {
    parsed(r, "an EVM address", EvmAddress::parse)
}

fn amount(r: &mut Reader<'_>) -> Read<Amount> {
    parsed(r, "an amount in atomic units", Amount::parse_atomic)
}

fn unix_time(r: &mut Reader<'_>) -> Read<u64> {
    parsed(r, "a unix time as a decimal string", |t| super::unix_string::parse(t).ok_or(()))
}

fn bytes32(r: &mut Reader<'_>) -> Read<Bytes32> {
    parsed(r, "0x and 32 bytes of hex", |t| {
        t.strip_prefix("0x").ok_or(()).and_then(|d| hex_decode_fixed::<32>(d).map_err(drop)).map(Bytes32)
    })
}

fn hex_bytes(r: &mut Reader<'_>) -> Read<HexBytes> {
    parsed(r, "0x-prefixed hex bytes", |t| HexBytes::parse(t).ok_or(()))
}

/// Any JSON value, as serde_json reads it.
fn value(r: &mut Reader<'_>) -> Read<Value> {
    let raw = r.raw()?;
    serde_json::from_str(raw).map_err(|_| r.error("a JSON value"))
}

fn object(r: &mut Reader<'_>) -> Read<Map<String, Value>> {
    match value(r)? {
        Value::Object(map) => Ok(map),
        _ => Err(r.error("an object")),
    }
}

fn version<const N: u8>(r: &mut Reader<'_>) -> Read<Exactly<N>> {
    if r.u64()? == u64::from(N) {
        Ok(Exactly)
    } else {
        Err(r.error("the payload's x402Version"))
    }
}

fn resource(r: &mut Reader<'_>) -> Read<ResourceInfo> {
    let (mut url, mut description, mut mime_type) = (None, None, None);
    r.object(|r, key| match key {
        "url" => once(&mut url, r, |r| r.string()),
        "description" => once(&mut description, r, |r| optional(r, |r| r.string())),
        "mimeType" => once(&mut mime_type, r, |r| optional(r, |r| r.string())),
        _ => r.skip(),
    })?;
    Ok(ResourceInfo {
        url: required(url, r, "url")?,
        description: description.flatten(),
        mime_type: mime_type.flatten(),
    })
}

fn requirements(r: &mut Reader<'_>) -> Read<RequirementsV2> {
    let (mut scheme, mut network, mut amount_, mut asset) = (None, None, None, None);
    let (mut pay_to, mut max_timeout_seconds, mut extra) = (None, None, None);
    r.object(|r, key| match key {
        "scheme" => once(&mut scheme, r, |r| r.string()),
        "network" => once(&mut network, r, |r| r.string()),
        "amount" => once(&mut amount_, r, amount),
        "asset" => once(&mut asset, r, |r| r.string()),
        "payTo" => once(&mut pay_to, r, |r| r.string()),
        "maxTimeoutSeconds" => once(&mut max_timeout_seconds, r, |r| r.u64()),
        "extra" => once(&mut extra, r, |r| optional(r, value)),
        _ => r.skip(),
    })?;
    Ok(RequirementsV2 {
        scheme: required(scheme, r, "scheme")?,
        network: required(network, r, "network")?,
        amount: required(amount_, r, "amount")?,
        asset: required(asset, r, "asset")?,
        pay_to: required(pay_to, r, "payTo")?,
        max_timeout_seconds: required(max_timeout_seconds, r, "maxTimeoutSeconds")?,
        extra: extra.flatten(),
    })
}

fn authorization(r: &mut Reader<'_>) -> Read<Authorization> {
    let (mut from, mut to, mut value_) = (None, None, None);
    let (mut valid_after, mut valid_before, mut nonce) = (None, None, None);
    r.object(|r, key| match key {
        "from" => once(&mut from, r, address),
        "to" => once(&mut to, r, address),
        "value" => once(&mut value_, r, amount),
        "validAfter" => once(&mut valid_after, r, unix_time),
        "validBefore" => once(&mut valid_before, r, unix_time),
        "nonce" => once(&mut nonce, r, bytes32),
        _ => Err(r.error("an authorization field")),
    })?;
    Ok(Authorization {
        from: required(from, r, "from")?,
        to: required(to, r, "to")?,
        value: required(value_, r, "value")?,
        valid_after: required(valid_after, r, "validAfter")?,
        valid_before: required(valid_before, r, "validBefore")?,
        nonce: required(nonce, r, "nonce")?,
    })
}

fn exact_evm(r: &mut Reader<'_>) -> Read<ExactEvmPayload> {
    let (mut signature, mut authorization_) = (None, None);
    r.object(|r, key| match key {
        "signature" => once(&mut signature, r, hex_bytes),
        "authorization" => once(&mut authorization_, r, authorization),
        _ => r.skip(),
    })?;
    Ok(ExactEvmPayload {
        signature: required(signature, r, "signature")?,
        authorization: required(authorization_, r, "authorization")?,
    })
}

impl PaymentPayloadV2 {
    /// A v2 payload (the JSON of a `PAYMENT-SIGNATURE` header).
    pub fn from_json(json: &str) -> Result<Self, JsonError> {
        whole(json, |r| {
            let (mut x402_version, mut resource_, mut accepted, mut payload, mut extensions) =
                (None, None, None, None, None);
            r.object(|r, key| match key {
                "x402Version" => once(&mut x402_version, r, version::<2>),
                "resource" => once(&mut resource_, r, |r| optional(r, resource)),
                "accepted" => once(&mut accepted, r, requirements),
                "payload" => once(&mut payload, r, exact_evm),
                "extensions" => once(&mut extensions, r, |r| optional(r, object)),
                _ => r.skip(),
            })?;
            Ok(PaymentPayloadV2 {
                x402_version: required(x402_version, r, "x402Version")?,
                resource: resource_.flatten(),
                accepted: required(accepted, r, "accepted")?,
                payload: required(payload, r, "payload")?,
                extensions: extensions.flatten(),
            })
        })
    }
}

impl PaymentPayloadV1 {
    /// A v1 payload (the JSON of an `X-PAYMENT` header).
    pub fn from_json(json: &str) -> Result<Self, JsonError> {
        whole(json, |r| {
            let (mut x402_version, mut scheme, mut network, mut payload) = (None, None, None, None);
            r.object(|r, key| match key {
                "x402Version" => once(&mut x402_version, r, version::<1>),
                "scheme" => once(&mut scheme, r, |r| r.string()),
                "network" => once(&mut network, r, |r| r.string()),
                "payload" => once(&mut payload, r, exact_evm),
                _ => r.skip(),
            })?;
            Ok(PaymentPayloadV1 {
                x402_version: required(x402_version, r, "x402Version")?,
                scheme: required(scheme, r, "scheme")?,
                network: required(network, r, "network")?,
                payload: required(payload, r, "payload")?,
            })
        })
    }
}

/// The fields every payload version has, read before the scheme payload (a payment for a
/// scheme or network the route does not take gets a fresh challenge, not a 400).
pub(crate) struct Envelope {
    /// `x402Version`.
    pub x402_version: u64,
    /// v1: `scheme`.
    pub scheme: Option<String>,
    /// v1: `network`.
    pub network: Option<String>,
    /// v2: `accepted.scheme` and `accepted.network`.
    pub accepted: Option<(String, String)>,
}

impl Envelope {
    /// The envelope of a payload's JSON (its other fields passed over).
    pub(crate) fn from_json(json: &str) -> Result<Self, JsonError> {
        whole(json, |r| {
            let (mut x402_version, mut scheme, mut network, mut accepted) = (None, None, None, None);
            r.object(|r, key| match key {
                "x402Version" => once(&mut x402_version, r, |r| r.u64()),
                "scheme" => once(&mut scheme, r, |r| optional(r, |r| r.string())),
                "network" => once(&mut network, r, |r| optional(r, |r| r.string())),
                "accepted" => once(&mut accepted, r, |r| optional(r, accepted_envelope)),
                _ => r.skip(),
            })?;
            Ok(Envelope {
                x402_version: required(x402_version, r, "x402Version")?,
                scheme: scheme.flatten(),
                network: network.flatten(),
                accepted: accepted.flatten(),
            })
        })
    }
}

fn accepted_envelope(r: &mut Reader<'_>) -> Read<(String, String)> {
    let (mut scheme, mut network) = (None, None);
    r.object(|r, key| match key {
        "scheme" => once(&mut scheme, r, |r| r.string()),
        "network" => once(&mut network, r, |r| r.string()),
        _ => r.skip(),
    })?;
    Ok((required(scheme, r, "scheme")?, required(network, r, "network")?))
}

//! Reading the payment payloads a client sends (`PaymentPayloadV2`, `PaymentPayloadV1`)
//! with the JSON pull reader, as strictly as the serde derives of these types read them
//! (the derives stay for the tests, which check the two against each other on generated
//! inputs): every field at most once (the reader refuses a repeated key: a payload whose
//! duplicate field we and a facilitator could read differently), required fields present, no `null` for a value
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

/// A string that `parse` turns into a value.
fn parsed<T, E>(r: &mut Reader<'_>, what: &'static str, parse: impl FnOnce(&str) -> Result<T, E>) -> Read<T> {
    let text = r.string()?;
    parse(&text).map_err(|_| r.error(what))
}

fn address(r: &mut Reader<'_>) -> Read<EvmAddress> {
    parsed(r, "an EVM address", EvmAddress::parse)
}

/// An amount in atomic units (a decimal string), as x402 and the arbiter's rows write it.
pub(crate) fn amount(r: &mut Reader<'_>) -> Read<Amount> {
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

fn object(r: &mut Reader<'_>) -> Read<Map<String, Value>> {
    match r.value()? {
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
    r.object(|r, key| {
        match key {
            "url" => url = Some(r.string()?),
            "description" => description = r.string_or_null()?,
            "mimeType" => mime_type = r.string_or_null()?,
            _ => r.skip()?,
        }
        Ok(())
    })?;
    Ok(ResourceInfo { url: required(url, r, "url")?, description, mime_type })
}

fn requirements(r: &mut Reader<'_>) -> Read<RequirementsV2> {
    let (mut scheme, mut network, mut amount_, mut asset) = (None, None, None, None);
    let (mut pay_to, mut max_timeout_seconds, mut extra) = (None, None, None);
    r.object(|r, key| {
        match key {
            "scheme" => scheme = Some(r.string()?),
            "network" => network = Some(r.string()?),
            "amount" => amount_ = Some(amount(r)?),
            "asset" => asset = Some(r.string()?),
            "payTo" => pay_to = Some(r.string()?),
            "maxTimeoutSeconds" => max_timeout_seconds = Some(r.u64()?),
            "extra" => extra = optional(r, |r| r.value())?,
            _ => r.skip()?,
        }
        Ok(())
    })?;
    Ok(RequirementsV2 {
        scheme: required(scheme, r, "scheme")?,
        network: required(network, r, "network")?,
        amount: required(amount_, r, "amount")?,
        asset: required(asset, r, "asset")?,
        pay_to: required(pay_to, r, "payTo")?,
        max_timeout_seconds: required(max_timeout_seconds, r, "maxTimeoutSeconds")?,
        extra,
    })
}

fn authorization(r: &mut Reader<'_>) -> Read<Authorization> {
    let (mut from, mut to, mut value_) = (None, None, None);
    let (mut valid_after, mut valid_before, mut nonce) = (None, None, None);
    r.object(|r, key| {
        match key {
            "from" => from = Some(address(r)?),
            "to" => to = Some(address(r)?),
            "value" => value_ = Some(amount(r)?),
            "validAfter" => valid_after = Some(unix_time(r)?),
            "validBefore" => valid_before = Some(unix_time(r)?),
            "nonce" => nonce = Some(bytes32(r)?),
            _ => return Err(r.error("an authorization field")),
        }
        Ok(())
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
    r.object(|r, key| {
        match key {
            "signature" => signature = Some(hex_bytes(r)?),
            "authorization" => authorization_ = Some(authorization(r)?),
            _ => r.skip()?,
        }
        Ok(())
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
            r.object(|r, key| {
                match key {
                    "x402Version" => x402_version = Some(version::<2>(r)?),
                    "resource" => resource_ = optional(r, resource)?,
                    "accepted" => accepted = Some(requirements(r)?),
                    "payload" => payload = Some(exact_evm(r)?),
                    "extensions" => extensions = optional(r, object)?,
                    _ => r.skip()?,
                }
                Ok(())
            })?;
            Ok(PaymentPayloadV2 {
                x402_version: required(x402_version, r, "x402Version")?,
                resource: resource_,
                accepted: required(accepted, r, "accepted")?,
                payload: required(payload, r, "payload")?,
                extensions,
            })
        })
    }
}

impl PaymentPayloadV1 {
    /// A v1 payload (the JSON of an `X-PAYMENT` header).
    pub fn from_json(json: &str) -> Result<Self, JsonError> {
        whole(json, |r| {
            let (mut x402_version, mut scheme, mut network, mut payload) = (None, None, None, None);
            r.object(|r, key| {
                match key {
                    "x402Version" => x402_version = Some(version::<1>(r)?),
                    "scheme" => scheme = Some(r.string()?),
                    "network" => network = Some(r.string()?),
                    "payload" => payload = Some(exact_evm(r)?),
                    _ => r.skip()?,
                }
                Ok(())
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
            r.object(|r, key| {
                match key {
                    "x402Version" => x402_version = Some(r.u64()?),
                    "scheme" => scheme = r.string_or_null()?,
                    "network" => network = r.string_or_null()?,
                    "accepted" => accepted = optional(r, accepted_envelope)?,
                    _ => r.skip()?,
                }
                Ok(())
            })?;
            Ok(Envelope { x402_version: required(x402_version, r, "x402Version")?, scheme, network, accepted })
        })
    }
}

fn accepted_envelope(r: &mut Reader<'_>) -> Read<(String, String)> {
    let (mut scheme, mut network) = (None, None);
    r.object(|r, key| {
        match key {
            "scheme" => scheme = Some(r.string()?),
            "network" => network = Some(r.string()?),
            _ => r.skip()?,
        }
        Ok(())
    })?;
    Ok((required(scheme, r, "scheme")?, required(network, r, "network")?))
}

//! A route's payment option, fully typed (what the operator configured), and its
//! rendering as x402 v2 and v1 `PaymentRequirements`.

use serde_json::json;

use crate::address::EvmAddress;
use crate::amount::Amount;
use crate::network::Network;
use crate::x402::{RequirementsV1, RequirementsV2, ResourceInfo, X402Version};

/// The only scheme x402-edge accepts.
pub const SCHEME_EXACT: &str = "exact";

/// One way to pay for a route: `exact` scheme, an EIP-3009 token on an EVM chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentOption {
    /// Chain.
    pub network: Network,
    /// Token contract.
    pub asset: EvmAddress,
    /// EIP-712 domain `name` of the token (`USDC`).
    pub asset_name: String,
    /// EIP-712 domain `version` of the token (`2`).
    pub asset_version: String,
    /// Token decimals (for dollar prices and display).
    pub decimals: u8,
    /// Recipient.
    pub pay_to: EvmAddress,
    /// Price in atomic units.
    pub amount: Amount,
    /// How long an authorization may be valid for.
    pub max_timeout_seconds: u64,
}

impl PaymentOption {
    fn extra(&self) -> serde_json::Value {
        json!({ "name": self.asset_name, "version": self.asset_version })
    }

    /// The network as a protocol version names it: CAIP-2 for v2, the v1 name for v1
    /// (CAIP-2 when the chain has none).
    pub fn network_for(&self, version: X402Version) -> String {
        match (version, self.network.v1_name()) {
            (X402Version::V1, Some(name)) => name.to_string(),
            _ => self.network.caip2(),
        }
    }

    /// As x402 v2 `PaymentRequirements`.
    pub fn to_v2(&self) -> RequirementsV2 {
        RequirementsV2 {
            scheme: SCHEME_EXACT.to_string(),
            network: self.network.caip2(),
            amount: self.amount,
            asset: self.asset.checksummed(),
            pay_to: self.pay_to.checksummed(),
            max_timeout_seconds: self.max_timeout_seconds,
            extra: Some(self.extra()),
        }
    }

    /// As x402 v1 `PaymentRequirements`, when the network has a v1 name.
    pub fn to_v1(&self, resource: &ResourceInfo) -> Option<RequirementsV1> {
        Some(RequirementsV1 {
            scheme: SCHEME_EXACT.to_string(),
            network: self.network.v1_name()?.to_string(),
            max_amount_required: self.amount,
            asset: self.asset.checksummed(),
            pay_to: self.pay_to.checksummed(),
            resource: resource.url.clone(),
            description: resource.description.clone().unwrap_or_default(),
            mime_type: resource.mime_type.clone().unwrap_or_default(),
            output_schema: None,
            max_timeout_seconds: self.max_timeout_seconds,
            extra: Some(self.extra()),
        })
    }
}

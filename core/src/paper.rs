//! The paper facilitator: the default for local runs. It checks x402 `exact` EVM
//! payments the way a real facilitator does — the EIP-3009 `TransferWithAuthorization`
//! signature must recover to `from` over the token's EIP-712 domain — but it **moves no
//! money** and needs no chain. Balances and used nonces live in a [`KvStore`] ledger:
//! every payer starts with `starting_balance` per token, so any fresh wallet can try a
//! paywall; a settle debits it and burns the nonce.
//!
//! Ledger keys (addresses and nonce as lower-case `0x` hex, chain id in decimal):
//! - `paper:balance:<chainId>:<asset>:<from>` → balance in atomic units (decimal);
//!   absent means `starting_balance`. A value that does not parse is a store fault,
//!   never a free pass.
//! - `paper:nonce:<chainId>:<asset>:<from>:<nonce>` → the paper transaction id; kept
//!   until one day after `validBefore` (at least 60 s), after which the signature has
//!   expired anyway.
//!
//! Not a bank: KV is not atomic, so two concurrent settles could both pass their checks
//! here (one authorization's nonce, or one payer's balance for two payments). In the
//! Worker they never run together: the exactly-once arbiter (`once`) claims every payment
//! before any facilitator call, and settles run in the payer's arbiter shard, one paper
//! settle at a time (`turns`), so a balance is read after the last debit. A store
//! that fails between the nonce write and the balance write leaves the nonce burned and
//! the balance untouched: the failure direction never lets an authorization be spent
//! twice.

use crate::address::EvmAddress;
use crate::amount::Amount;
use crate::codec::hex_encode_0x;
use crate::crypto::keccak256;
use crate::eip712::{recover_signer, transfer_with_authorization_digest};
use crate::error::{Code, UpstreamError};
use crate::facilitator::{Facilitator, FacilitatorRequest, SettleResponse, VerifyResponse};
use crate::payment::SETTLE_MARGIN_SECONDS;
use crate::ports::{Clock, KvStore, StoreError, TransportError};
use crate::requirements::PaymentOption;
use crate::turns::KeyedTurns;
use crate::x402::Authorization;

/// Where a payer reads its paper balances: `{BALANCES_PATH}{address}` (paper mode only).
pub const BALANCES_PATH: &str = "/.well-known/x402/paper/balances/";

/// How long a used nonce is remembered past the authorization's `validBefore`.
const NONCE_GRACE_SECONDS: u64 = 24 * 60 * 60;

/// The shortest TTL a used nonce is stored with.
const MIN_NONCE_TTL_SECONDS: u64 = 60;

/// A facilitator that verifies real EIP-3009 signatures against a paper ledger in a
/// [`KvStore`], and settles by moving paper balances. See the module docs.
#[derive(Debug, Clone)]
pub struct PaperFacilitator<S, C> {
    store: S,
    clock: C,
    starting_balance: Amount,
    /// One settle per payer balance at a time (see [`PaperFacilitator::with_turns`]).
    turns: KeyedTurns,
}

/// How long a paper settle waits for the settles of the same balance ahead of it (each is
/// a few KV calls): past it, it gives up with no answer (nothing moved; a retry resolves).
pub const TURN_WAIT_MS: u64 = 5_000;

/// What the checks found: a payment good for settlement, with the balance it will debit.
struct Passed {
    balance: Amount,
}

/// The ledger key of a payer's paper balance of `option`'s token.
pub fn balance_key(option: &PaymentOption, payer: &EvmAddress) -> String {
    format!("paper:balance:{}:{}:{}", option.network.chain_id, hex_encode_0x(&option.asset.0), hex_encode_0x(&payer.0))
}

/// The ledger key marking an authorization's nonce as used.
pub fn nonce_key(option: &PaymentOption, auth: &Authorization) -> String {
    format!(
        "paper:nonce:{}:{}:{}:{}",
        option.network.chain_id,
        hex_encode_0x(&option.asset.0),
        hex_encode_0x(&auth.from.0),
        auth.nonce_hex()
    )
}

/// The paper transaction id of a settled authorization:
/// `"paper:0x" + hex(keccak256("x402-edge paper" ‖ chainId (u64 BE) ‖ asset ‖ from ‖ nonce))`.
/// Deterministic, and visibly not a chain transaction hash.
pub fn paper_transaction(option: &PaymentOption, auth: &Authorization) -> String {
    let mut preimage = Vec::with_capacity(15 + 8 + 20 + 20 + 32);
    preimage.extend_from_slice(b"x402-edge paper");
    preimage.extend_from_slice(&option.network.chain_id.to_be_bytes());
    preimage.extend_from_slice(&option.asset.0);
    preimage.extend_from_slice(&auth.from.0);
    preimage.extend_from_slice(&auth.nonce.0);
    format!("paper:{}", hex_encode_0x(&keccak256(&preimage)))
}

impl<S: KvStore, C: Clock> PaperFacilitator<S, C> {
    /// A paper facilitator keeping its ledger in `store`, reading time from `clock`;
    /// payers without a ledger entry hold `starting_balance`.
    pub fn new(store: S, clock: C, starting_balance: Amount) -> Self {
        Self { store, clock, starting_balance, turns: KeyedTurns::default() }
    }

    /// Settles of one payer's balance take turns in `turns` (shared by every facilitator
    /// made for one Durable Object, which holds all of a payer's payments): the balance
    /// read, the nonce and the debit of one settle are not interleaved with another's.
    pub fn with_turns(self, turns: KeyedTurns) -> Self {
        Self { turns, ..self }
    }

    /// The paper balance `payer` holds of `option`'s token (the starting balance until its
    /// first payment). A stored value that does not parse is a store fault.
    pub async fn balance(&self, option: &PaymentOption, payer: &EvmAddress) -> Result<Amount, StoreError> {
        let key = balance_key(option, payer);
        match self.store.get(&key).await? {
            None => Ok(self.starting_balance),
            Some(text) => Amount::parse_atomic(&text)
                .map_err(|_| StoreError(format!("paper balance under {key} is not a decimal amount"))),
        }
    }

    /// The JSON answer of [`BALANCES_PATH`]: the balance `address` holds of each token
    /// `options` name (one entry per network and asset, in the order first named);
    /// `Ok(None)` when `address` is not an address.
    pub async fn balances_json<'o>(
        &self,
        address: &str,
        options: impl Iterator<Item = &'o PaymentOption>,
    ) -> Result<Option<String>, StoreError> {
        let Ok(payer) = EvmAddress::parse(address) else { return Ok(None) };
        let mut seen: Vec<&PaymentOption> = Vec::new();
        for option in options {
            if !seen.iter().any(|o| o.network == option.network && o.asset == option.asset) {
                seen.push(option);
            }
        }
        let mut balances = Vec::with_capacity(seen.len());
        for option in seen {
            let amount = self.balance(option, &payer).await?;
            balances.push(serde_json::json!({
                "network": option.network.caip2(),
                "asset": option.asset.checksummed(),
                "name": option.asset_name,
                "decimals": option.decimals,
                "amount": amount.to_string(),
            }));
        }
        Ok(Some(serde_json::json!({ "payer": payer.checksummed(), "balances": balances }).to_string()))
    }

    /// Runs every check, in the documented order. `Ok(Err(code))` is a payment refused
    /// with an x402 reason code; `Err` is a store failure.
    async fn check(&self, req: &FacilitatorRequest<'_>) -> Result<Result<Passed, Code>, UpstreamError> {
        let option = req.option;
        let evm = &req.payment.evm;
        let auth = &evm.authorization;
        if req.payment.network != Some(option.network) {
            return Ok(Err(Code::InvalidNetwork));
        }
        let digest = transfer_with_authorization_digest(option, auth);
        if recover_signer(&digest, &evm.signature.0) != Ok(auth.from) {
            return Ok(Err(Code::InvalidExactEvmPayloadSignature));
        }
        if auth.to != option.pay_to {
            return Ok(Err(Code::InvalidExactEvmPayloadRecipientMismatch));
        }
        if auth.value != option.amount {
            return Ok(Err(Code::InvalidExactEvmPayloadAuthorizationValueMismatch));
        }
        // A used nonce is reported before the window: "already settled" stays true after
        // `validBefore`, so a late retry of an uncertain settlement can still resolve it.
        if self.store.get(&nonce_key(option, auth)).await?.is_some() {
            return Ok(Err(Code::InvalidExactEvmNonceAlreadyUsed));
        }
        let now = self.clock.now_unix();
        if auth.valid_after > now {
            return Ok(Err(Code::InvalidExactEvmPayloadAuthorizationValidAfter));
        }
        if now.saturating_add(SETTLE_MARGIN_SECONDS) > auth.valid_before {
            return Ok(Err(Code::InvalidExactEvmPayloadAuthorizationValidBefore));
        }
        let balance = self.balance(option, &auth.from).await?;
        if balance < auth.value {
            return Ok(Err(Code::InsufficientFunds));
        }
        Ok(Ok(Passed { balance }))
    }
}

impl<S: KvStore, C: Clock> Facilitator for PaperFacilitator<S, C> {
    fn name(&self) -> &str {
        "paper"
    }

    async fn verify(&self, req: &FacilitatorRequest<'_>) -> Result<VerifyResponse, UpstreamError> {
        let payer = Some(req.payment.evm.authorization.from.checksummed());
        Ok(match self.check(req).await? {
            Ok(Passed { .. }) => VerifyResponse { is_valid: true, invalid_reason: None, payer },
            Err(code) => VerifyResponse { is_valid: false, invalid_reason: Some(code.code().to_string()), payer },
        })
    }

    async fn settle(&self, req: &FacilitatorRequest<'_>) -> Result<SettleResponse, UpstreamError> {
        let auth = &req.payment.evm.authorization;
        let payer = Some(auth.from.checksummed());
        let queue = self.turns.of(&balance_key(req.option, &auth.from));
        let Some(_turn) = queue.take_within(&self.clock, TURN_WAIT_MS).await else {
            let why = "paper settles of this balance ahead of it did not end in time";
            return Err(UpstreamError::FacilitatorUnavailable(TransportError::Failed(why.into())));
        };
        let network = req.option.network_for(req.payment.version);
        let balance = match self.check(req).await? {
            Ok(Passed { balance }) => balance,
            Err(code) => {
                return Ok(SettleResponse {
                    success: false,
                    error_reason: Some(code.code().to_string()),
                    payer,
                    transaction: String::new(),
                    network,
                    extensions: None,
                })
            }
        };
        let transaction = paper_transaction(req.option, auth);
        let now = self.clock.now_unix();
        let ttl = auth.valid_before.saturating_add(NONCE_GRACE_SECONDS).saturating_sub(now).max(MIN_NONCE_TTL_SECONDS);
        // Nonce first: if the balance write then fails, the authorization is spent and
        // nothing was debited, never the other way round.
        self.store.put(&nonce_key(req.option, auth), &transaction, Some(ttl)).await?;
        // `check` proved balance >= value.
        let left = Amount(balance.0.saturating_sub(auth.value.0));
        self.store.put(&balance_key(req.option, &auth.from), &left.to_string(), None).await?;
        Ok(SettleResponse { success: true, error_reason: None, payer, transaction, network, extensions: None })
    }
}

#[cfg(test)]
mod tests {
    use futures_executor::block_on;
    use serde_json::{json, Value};

    use super::*;
    use crate::codec::base64_encode;
    use crate::fakes::{FixedClock, MemoryKv};
    use crate::network::Network;
    use crate::payment::{decode, Payment, PaymentHeader};
    use crate::x402::ResourceInfo;

    // Signed with viem 2.57.20 (`privateKeyToAccount(0x…0a).signTypedData`) over the
    // Base Sepolia USDC domain ("USDC", "2", 84532, 0x036CbD53842c5426634e7929541eC2318f3dCF7e):
    // from PAYER to PAY_TO, value 10000, validAfter 1750000000, validBefore 1750000300.
    const PAYER: &str = "0x4CCeBa2d7D2B4fdcE4304d3e09a1fea9fbEb1528";
    const PAY_TO: &str = "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB";
    const ASSET: &str = "0x036CbD53842c5426634e7929541eC2318f3dCF7e";
    const VALID_AFTER: u64 = 1_750_000_000;
    const VALID_BEFORE: u64 = 1_750_000_300;
    const NOW: u64 = VALID_AFTER + 10;
    /// (nonce, signature) pairs for the authorization above.
    const SIGNED: [(&str, &str); 2] = [
        (
            "0x1111111111111111111111111111111111111111111111111111111111111111",
            "0x55f68cbd4a56659cf678aa9788363f6a384e07337dfc69de6ef58a8531e2da91180b2896d8c71475cb967ba2d262c8560381f2a75c72bacd27f8e9c051d4fc0c1b",
        ),
        (
            "0x2222222222222222222222222222222222222222222222222222222222222222",
            "0x2c27628c0dceedac99f0b65bbc3870fe7539ac614477a8098ea210e019d3f3796087f1963d3c194d26d1a668194ff3eda8bc9bfea9aa6075be783442493b218e1b",
        ),
    ];
    const PRICE: Amount = Amount(10_000);

    fn addr(text: &str) -> EvmAddress {
        EvmAddress::parse(text).unwrap()
    }

    fn option() -> PaymentOption {
        PaymentOption {
            network: Network { chain_id: 84_532 },
            asset: addr(ASSET),
            asset_name: "USDC".into(),
            asset_version: "2".into(),
            decimals: 6,
            pay_to: addr(PAY_TO),
            amount: PRICE,
            max_timeout_seconds: 300,
        }
    }

    fn resource() -> ResourceInfo {
        ResourceInfo { url: "https://paper.test/r".into(), description: None, mime_type: None }
    }

    fn v2_json(which: usize) -> Value {
        let (nonce, signature) = SIGNED[which];
        json!({
            "x402Version": 2,
            "resource": {"url": "https://paper.test/r"},
            "accepted": {
                "scheme": "exact", "network": "eip155:84532", "amount": "10000", "asset": ASSET,
                "payTo": PAY_TO, "maxTimeoutSeconds": 300, "extra": {"name": "USDC", "version": "2"}
            },
            "payload": {
                "signature": signature,
                "authorization": {
                    "from": PAYER, "to": PAY_TO, "value": "10000",
                    "validAfter": VALID_AFTER.to_string(), "validBefore": VALID_BEFORE.to_string(), "nonce": nonce
                }
            }
        })
    }

    fn payment_from(json: &Value) -> Payment {
        decode(PaymentHeader::V2(&base64_encode(json.to_string().as_bytes()))).unwrap()
    }

    fn payment(which: usize) -> Payment {
        payment_from(&v2_json(which))
    }

    fn v1_payment(which: usize) -> Payment {
        let v2 = v2_json(which);
        let v1 = json!({"x402Version": 1, "scheme": "exact", "network": "base-sepolia", "payload": v2["payload"]});
        decode(PaymentHeader::V1(&base64_encode(v1.to_string().as_bytes()))).unwrap()
    }

    fn verify<S: KvStore, C: Clock>(
        f: &PaperFacilitator<S, C>,
        p: &Payment,
        o: &PaymentOption,
    ) -> Result<VerifyResponse, UpstreamError> {
        let resource = resource();
        block_on(f.verify(&FacilitatorRequest { payment: p, option: o, resource: &resource }))
    }

    fn settle<S: KvStore, C: Clock>(
        f: &PaperFacilitator<S, C>,
        p: &Payment,
        o: &PaymentOption,
    ) -> Result<SettleResponse, UpstreamError> {
        let resource = resource();
        block_on(f.settle(&FacilitatorRequest { payment: p, option: o, resource: &resource }))
    }

    fn balance(kv: &MemoryKv) -> Option<String> {
        kv.value(&balance_key(&option(), &addr(PAYER)))
    }

    #[test]
    fn a_real_signed_payment_verifies_and_settles_once() {
        let (kv, clock) = (MemoryKv::new(), FixedClock::new(NOW));
        let f = PaperFacilitator::new(&kv, &clock, Amount(1_000_000));
        let (p, o) = (payment(0), option());

        let v = verify(&f, &p, &o).unwrap();
        assert_eq!(v, VerifyResponse { is_valid: true, invalid_reason: None, payer: Some(PAYER.into()) });
        assert_eq!((kv.puts(), kv.len()), (0, 0), "verify writes nothing");

        let s = settle(&f, &p, &o).unwrap();
        assert!(s.success, "{s:?}");
        assert_eq!((s.error_reason, s.payer.as_deref(), s.network.as_str()), (None, Some(PAYER), "eip155:84532"));
        assert_eq!(s.transaction, paper_transaction(&o, &p.evm.authorization));
        assert_eq!(balance(&kv).as_deref(), Some("990000"));
        // Nonce burned first, with a TTL reaching a day past validBefore.
        let nonce = nonce_key(&o, &p.evm.authorization);
        assert_eq!(kv.put_log(), [nonce.clone(), balance_key(&o, &addr(PAYER))]);
        assert_eq!(kv.ttl(&nonce), Some(Some(VALID_BEFORE + 86_400 - NOW)));
        assert_eq!(kv.value(&nonce), Some(s.transaction.clone()));

        // The same authorization again: refused at verify and at settle, nothing moves.
        let used = "invalid_exact_evm_nonce_already_used";
        assert_eq!(verify(&f, &p, &o).unwrap().invalid_reason.as_deref(), Some(used));
        let again = settle(&f, &p, &o).unwrap();
        assert_eq!((again.success, again.error_reason.as_deref(), again.transaction.as_str()), (false, Some(used), ""));
        assert_eq!(balance(&kv).as_deref(), Some("990000"));

        // A second authorization with a fresh nonce is a second payment.
        let s2 = settle(&f, &payment(1), &o).unwrap();
        assert!(s2.success, "{s2:?}");
        assert_ne!(s2.transaction, s.transaction);
        assert_eq!(balance(&kv).as_deref(), Some("980000"));
    }

    #[test]
    fn the_x402_spec_example_verifies_on_paper() {
        // The spec's example signature is genuine (see eip712 tests), so paper accepts it.
        let (kv, clock) = (MemoryKv::new(), FixedClock::new(crate::payment::tests::SPEC_NOW));
        let f = PaperFacilitator::new(&kv, &clock, Amount(10_000));
        let p = decode(PaymentHeader::V2(crate::x402::tests::SPEC_PAYMENT_SIGNATURE)).unwrap();
        let v = verify(&f, &p, &crate::payment::tests::spec_option()).unwrap();
        assert!(v.is_valid, "{v:?}");
    }

    #[test]
    fn refusals_carry_the_x402_reason() {
        type EditJson = fn(&mut Value);
        type EditOption = fn(&mut PaymentOption);
        let sig = "invalid_exact_evm_payload_signature";
        let cases: Vec<(&str, EditJson, EditOption, u64, u128)> = vec![
            ("invalid_network", |_| {}, |o| o.network.chain_id = 8453, NOW, 1_000_000),
            ("invalid_network", |j| j["accepted"]["network"] = "eip155:8453".into(), |_| {}, NOW, 1_000_000),
            // Any signed field changed: the signature no longer recovers to `from`.
            (
                sig,
                |j| j["payload"]["authorization"]["value"] = "10001".into(),
                |o| o.amount = Amount(10_001),
                NOW,
                1_000_000,
            ),
            (sig, |j| j["payload"]["authorization"]["to"] = PAYER.into(), |o| o.pay_to = addr(PAYER), NOW, 1_000_000),
            (sig, |j| j["payload"]["authorization"]["from"] = PAY_TO.into(), |_| {}, NOW, 1_000_000),
            (sig, |j| j["payload"]["authorization"]["validBefore"] = "1750000301".into(), |_| {}, NOW, 1_000_000),
            (sig, |j| j["payload"]["authorization"]["nonce"] = SIGNED[1].0.into(), |_| {}, NOW, 1_000_000),
            (sig, |j| j["payload"]["signature"] = SIGNED[1].1.into(), |_| {}, NOW, 1_000_000),
            (sig, |j| j["payload"]["signature"] = "0x55f6".into(), |_| {}, NOW, 1_000_000),
            // The right token but the wrong domain (name): a different digest.
            (sig, |_| {}, |o| o.asset_name = "USD Coin".into(), NOW, 1_000_000),
            // Validly signed, but not what the route asks.
            (
                "invalid_exact_evm_payload_recipient_mismatch",
                |_| {},
                |o| o.pay_to = addr("0x0000000000000000000000000000000000000001"),
                NOW,
                1_000_000,
            ),
            (
                "invalid_exact_evm_payload_authorization_value_mismatch",
                |_| {},
                |o| o.amount = Amount(20_000),
                NOW,
                1_000_000,
            ),
            ("invalid_exact_evm_payload_authorization_valid_after", |_| {}, |_| {}, VALID_AFTER - 1, 1_000_000),
            ("invalid_exact_evm_payload_authorization_valid_before", |_| {}, |_| {}, VALID_BEFORE - 5, 1_000_000),
            ("invalid_exact_evm_payload_authorization_valid_before", |_| {}, |_| {}, VALID_BEFORE + 1, 1_000_000),
            ("insufficient_funds", |_| {}, |_| {}, NOW, 9_999),
        ];
        for (want, edit_json, edit_option, now, start) in cases {
            let mut json = v2_json(0);
            edit_json(&mut json);
            let mut o = option();
            edit_option(&mut o);
            let Ok(p) = decode(PaymentHeader::V2(&base64_encode(json.to_string().as_bytes()))) else {
                panic!("{want}: test payment does not decode: {json}");
            };
            let (kv, clock) = (MemoryKv::new(), FixedClock::new(now));
            let f = PaperFacilitator::new(&kv, &clock, Amount(start));
            let v = verify(&f, &p, &o).unwrap();
            let payer = Some(p.evm.authorization.from.checksummed());
            assert_eq!(
                v,
                VerifyResponse { is_valid: false, invalid_reason: Some(want.into()), payer: payer.clone() },
                "{want}"
            );
            let s = settle(&f, &p, &o).unwrap();
            assert_eq!(
                (s.success, s.error_reason.as_deref(), s.transaction.as_str()),
                (false, Some(want), ""),
                "{want}"
            );
            assert_eq!(s.payer, payer, "{want}");
            assert_eq!((kv.puts(), kv.len()), (0, 0), "{want}: a refused settle writes nothing");
        }
    }

    #[test]
    fn window_edges_are_inclusive_as_documented() {
        let o = option();
        for (now, ok) in [
            (VALID_AFTER - 1, false),
            (VALID_AFTER, true),
            (VALID_BEFORE - SETTLE_MARGIN_SECONDS, true),
            (VALID_BEFORE - SETTLE_MARGIN_SECONDS + 1, false),
            (u64::MAX, false),
        ] {
            let (kv, clock) = (MemoryKv::new(), FixedClock::new(now));
            let f = PaperFacilitator::new(&kv, &clock, PRICE);
            assert_eq!(verify(&f, &payment(0), &o).unwrap().is_valid, ok, "now {now}");
        }
    }

    #[test]
    fn balances_answer_one_entry_per_token_from_the_ledger() {
        let o = option();
        let mut other = option();
        other.network = Network { chain_id: 8453 };
        let (kv, clock) = (MemoryKv::new(), FixedClock::new(NOW));
        kv.insert(&balance_key(&o, &addr(PAYER)), "15000", None);
        let f = PaperFacilitator::new(&kv, &clock, Amount(7));
        // The same token named twice is one entry; an unpaid token holds the starting balance.
        let json = block_on(f.balances_json(&PAYER.to_lowercase(), [&o, &other, &o].into_iter())).unwrap().unwrap();
        let got: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            got,
            json!({ "payer": PAYER, "balances": [
                { "network": "eip155:84532", "asset": ASSET, "name": "USDC", "decimals": 6, "amount": "15000" },
                { "network": "eip155:8453", "asset": ASSET, "name": "USDC", "decimals": 6, "amount": "7" },
            ]})
        );
        kv.insert(&balance_key(&o, &addr(PAYER)), "junk", None);
        assert!(block_on(f.balances_json(PAYER, [&o].into_iter())).is_err(), "a junk balance is a fault");
        for bad in [
            "",
            "0x",
            "0x0x4CCeBa2d7D2B4fdcE4304d3e09a1fea9fbEb15",
            "0x4cceba2d7d2b4fdce4304d3e09a1fea9fbeb152",
            "0x4CCEba2d7D2B4fdcE4304d3e09a1fea9fbEb1528",
        ] {
            assert_eq!(block_on(f.balances_json(bad, [&o].into_iter())), Ok(None), "{bad}");
        }
    }

    #[test]
    fn balances_come_from_the_ledger() {
        let o = option();
        let key = balance_key(&o, &addr(PAYER));
        assert_eq!(
            key,
            "paper:balance:84532:0x036cbd53842c5426634e7929541ec2318f3dcf7e:0x4cceba2d7d2b4fdce4304d3e09a1fea9fbeb1528"
        );
        // A stored balance wins over the starting balance, both ways.
        let (kv, clock) = (MemoryKv::new(), FixedClock::new(NOW));
        kv.insert(&key, "15000", None);
        let f = PaperFacilitator::new(&kv, &clock, Amount(0));
        assert!(settle(&f, &payment(0), &o).unwrap().success);
        assert_eq!(kv.value(&key).as_deref(), Some("5000"));
        let s = settle(&f, &payment(1), &o).unwrap();
        assert_eq!(s.error_reason.as_deref(), Some("insufficient_funds"));
        assert_eq!(kv.value(&key).as_deref(), Some("5000"));

        // Exactly enough is enough; the balance reaches zero.
        let (kv, clock) = (MemoryKv::new(), FixedClock::new(NOW));
        let f = PaperFacilitator::new(&kv, &clock, PRICE);
        assert!(settle(&f, &payment(0), &o).unwrap().success);
        assert_eq!(kv.value(&key).as_deref(), Some("0"));

        // A stored value that is not an amount is a store fault, not a free pass.
        for junk in ["", "-1", "1e9", "lots", "99999999999999999999999999999999999999999"] {
            let (kv, clock) = (MemoryKv::new(), FixedClock::new(NOW));
            kv.insert(&key, junk, None);
            let f = PaperFacilitator::new(&kv, &clock, Amount(1_000_000));
            assert!(matches!(verify(&f, &payment(0), &o), Err(UpstreamError::Store(_))), "{junk:?}");
            assert!(matches!(settle(&f, &payment(0), &o), Err(UpstreamError::Store(_))), "{junk:?}");
            assert_eq!(kv.puts(), 0, "{junk:?}");
        }
    }

    #[test]
    fn store_failures_are_upstream_errors() {
        let o = option();
        // Reads fail: verify and settle both error, nothing written.
        let (kv, clock) = (MemoryKv::new(), FixedClock::new(NOW));
        kv.fail_gets.set(true);
        let f = PaperFacilitator::new(&kv, &clock, Amount(1_000_000));
        assert!(matches!(verify(&f, &payment(0), &o), Err(UpstreamError::Store(_))));
        assert!(matches!(settle(&f, &payment(0), &o), Err(UpstreamError::Store(_))));
        assert_eq!(kv.puts(), 0);

        // Writes fail: verify still works, settle errors and nothing is stored.
        let (kv, clock) = (MemoryKv::new(), FixedClock::new(NOW));
        kv.fail_puts.set(true);
        let f = PaperFacilitator::new(&kv, &clock, Amount(1_000_000));
        assert!(verify(&f, &payment(0), &o).unwrap().is_valid);
        assert!(matches!(settle(&f, &payment(0), &o), Err(UpstreamError::Store(_))));
        assert!(kv.is_empty());

        // The store dies between the nonce and the balance write: the authorization is
        // spent, nothing debited, and a retry cannot spend it again.
        let (kv, clock) = (MemoryKv::new(), FixedClock::new(NOW));
        kv.fail_puts_after.set(Some(1));
        let f = PaperFacilitator::new(&kv, &clock, Amount(1_000_000));
        assert!(matches!(settle(&f, &payment(0), &o), Err(UpstreamError::Store(_))));
        assert_eq!(kv.put_log(), [nonce_key(&o, &payment(0).evm.authorization)]);
        assert_eq!(balance(&kv), None);
        let retry = settle(&f, &payment(0), &o).unwrap();
        assert_eq!(retry.error_reason.as_deref(), Some("invalid_exact_evm_nonce_already_used"));
    }

    #[test]
    fn nonce_ttl_is_a_day_past_valid_before_and_at_least_a_minute() {
        // A far-future authorization: the TTL covers validBefore plus a day.
        let o = option();
        let p = payment(0);
        let nonce = nonce_key(&o, &p.evm.authorization);
        for (now, want) in [(VALID_AFTER, VALID_BEFORE + 86_400 - VALID_AFTER), (NOW, VALID_BEFORE + 86_400 - NOW)] {
            let (kv, clock) = (MemoryKv::new(), FixedClock::new(now));
            let f = PaperFacilitator::new(&kv, &clock, PRICE);
            assert!(settle(&f, &p, &o).unwrap().success);
            assert_eq!(kv.ttl(&nonce), Some(Some(want)));
        }
        assert_eq!(
            nonce,
            "paper:nonce:84532:0x036cbd53842c5426634e7929541ec2318f3dcf7e:0x4cceba2d7d2b4fdce4304d3e09a1fea9fbeb1528:0x1111111111111111111111111111111111111111111111111111111111111111"
        );
    }

    #[test]
    fn a_used_nonce_is_reported_even_after_the_window_closed() {
        let o = option();
        let (kv, clock) = (MemoryKv::new(), FixedClock::new(NOW));
        let f = PaperFacilitator::new(&kv, &clock, PRICE);
        assert!(settle(&f, &payment(0), &o).unwrap().success);
        clock.set(VALID_BEFORE + 10);
        let late = settle(&f, &payment(0), &o).unwrap();
        assert_eq!(late.error_reason.as_deref(), Some("invalid_exact_evm_nonce_already_used"));
        let unused = settle(&f, &payment(1), &o).unwrap();
        assert_eq!(unused.error_reason.as_deref(), Some("invalid_exact_evm_payload_authorization_valid_before"));
    }

    #[test]
    fn settle_names_the_network_in_the_payments_version() {
        let o = option();
        for (p, want) in [(payment(0), "eip155:84532"), (v1_payment(0), "base-sepolia")] {
            let (kv, clock) = (MemoryKv::new(), FixedClock::new(NOW));
            let f = PaperFacilitator::new(&kv, &clock, PRICE);
            let s = settle(&f, &p, &o).unwrap();
            assert_eq!((s.success, s.network.as_str()), (true, want));
            // Refusals name it the same way.
            let again = settle(&f, &p, &o).unwrap();
            assert_eq!((again.success, again.network.as_str()), (false, want));
        }
        // A v1 payment on a chain without a v1 name falls back to CAIP-2.
        let p = v1_payment(0);
        let mut local = o.clone();
        local.network = Network { chain_id: 31_337 };
        assert_eq!(local.network_for(p.version), "eip155:31337");
    }

    #[test]
    fn transaction_ids_are_deterministic_and_not_chain_hashes() {
        let o = option();
        let a = payment(0).evm.authorization;
        let b = payment(1).evm.authorization;
        let id = paper_transaction(&o, &a);
        assert!(id.starts_with("paper:0x") && id.len() == "paper:0x".len() + 64, "{id}");
        assert_eq!(id, paper_transaction(&o, &a.clone()));
        assert_ne!(id, paper_transaction(&o, &b));
        let mut other_chain = o.clone();
        other_chain.network.chain_id = 8453;
        assert_ne!(id, paper_transaction(&other_chain, &a));
        let mut other_asset = o.clone();
        other_asset.asset.0[0] ^= 1;
        assert_ne!(id, paper_transaction(&other_asset, &a));
        // The id does not depend on what is not in it (value, recipient, window).
        let mut same_nonce = a.clone();
        same_nonce.value = Amount(1);
        same_nonce.valid_before += 1;
        assert_eq!(id, paper_transaction(&o, &same_nonce));

        // Two facilitators settling the same payment name the same transaction.
        let ids: Vec<String> = (0..2)
            .map(|_| {
                let (kv, clock) = (MemoryKv::new(), FixedClock::new(NOW));
                let f = PaperFacilitator::new(&kv, &clock, PRICE);
                settle(&f, &payment(0), &o).unwrap().transaction
            })
            .collect();
        assert_eq!(ids, [id.clone(), id]);
    }
}

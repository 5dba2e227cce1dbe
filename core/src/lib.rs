//! The pure core of x402-edge: everything that decides what happens to a request,
//! with no `worker::` import, no network and no clock of its own.
//!
//! Flow served (see `flow`): a request's method and path are normalised (`path`) and
//! matched against the typed route table (`routes`, `config`). A free route goes to the
//! origin untouched. A priced route without payment gets a 402 challenge carrying x402 v2
//! (header) and v1 (body) at once (`challenge`). A payment header is decoded into typed
//! payloads (`payment`), checked against the route's requirements, verified by a
//! facilitator (`facilitator`, or the built-in `paper` one), the origin is called, and
//! only on origin success is the payment settled and a signed receipt (`receipt`) issued.
//!
//! The outside world is reached only through the small traits in `ports`; tests use fakes
//! that can fail.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]

pub(crate) mod address;
pub mod admin;
pub mod alert;
pub(crate) mod amount;
pub mod challenge;
pub mod codec;
pub mod config;
pub mod context;
pub(crate) mod crypto;
pub mod decide;
pub mod discovery;
pub(crate) mod eip712;
pub mod error;
pub mod facilitator;
#[cfg(test)]
pub(crate) mod fakes;
pub mod flow;
pub mod http;
pub(crate) mod json;
pub mod ledger;
pub mod mcp;
pub(crate) mod network;
pub mod once;
pub mod overrides;
pub mod paper;
pub mod path;
pub mod payer;
pub(crate) mod payment;
pub(crate) mod paywall;
pub mod policy;
pub mod ports;
pub(crate) mod receipt;
pub use address::EvmAddress;
pub use payment::PaymentHeader;
pub use receipt::ReceiptSigner;
pub(crate) mod requirements;
pub mod respond;
pub(crate) mod routes;
#[cfg(test)]
pub(crate) mod testkit;
pub mod turns;
pub mod x402;

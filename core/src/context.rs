//! The payment context: what the origin is told about the payment of a request it is
//! asked to serve, signed so that it can tell a paid request from one that reached it
//! some other way (directly, or through a client that wrote the header itself).
//!
//! Every paid request forwarded to the origin carries [`CONTEXT_HEADER`]: a JWT in JWS
//! compact form, `alg` `EdDSA`, signed with the receipt key (its `kid` is the one
//! published at `/.well-known/jwks.json`), `typ` [`CONTEXT_TYP`] so that neither a
//! receipt nor a context can be taken for the other. Its claims ([`ContextClaims`]) name
//! the issuer (this paywall's public origin), the audience (the origin), a lifetime of
//! [`CONTEXT_LIFETIME_SECONDS`], the payment key as `jti`, the payer (the signer
//! recovered from the authorization), the amount, asset, network, route, method, path,
//! and `status`: `verified` when the origin runs before settlement (a fresh payment),
//! `settled` when a settled payment's content is fetched again for its retry.
//!
//! A client's own `PAYMENT-CONTEXT` header never reaches the origin
//! (`overrides::STRIPPED_REQUEST_HEADERS`), on any route.

use serde::Serialize;

use crate::codec::to_json;
use crate::receipt::ReceiptSigner;

/// The request header the context travels in.
pub const CONTEXT_HEADER: &str = "PAYMENT-CONTEXT";

/// The JWS `typ` of a payment context (a receipt's is `x402-receipt+jws`).
pub const CONTEXT_TYP: &str = "x402-context+jwt";

/// How long a context is valid after it is issued (`exp` − `iat`).
pub const CONTEXT_LIFETIME_SECONDS: u64 = 60;

/// Where the payment stands when the origin is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ContextStatus {
    /// Verified by the facilitator, not settled yet: the origin runs before settlement
    /// (a failed answer is not charged).
    Verified,
    /// Already settled: a retry's content is fetched again (the stored copy was too large
    /// to keep).
    Settled,
}

/// The claims of a payment context, in this order on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContextClaims<'a> {
    /// This paywall's public origin (`https://api.example.com`).
    pub iss: &'a str,
    /// The origin the request is forwarded to (`https://origin.example.com`).
    pub aud: &'a str,
    /// Issued at (unix s).
    pub iat: u64,
    /// Expires at (unix s): `iat` + [`CONTEXT_LIFETIME_SECONDS`].
    pub exp: u64,
    /// The payment key (the idempotency key of the authorization).
    pub jti: &'a str,
    /// The payer: the signer recovered from the authorization (checksummed).
    pub payer: &'a str,
    /// The amount, in the asset's atomic units (a decimal string).
    pub amount: &'a str,
    /// The asset's contract address (checksummed).
    pub asset: &'a str,
    /// The CAIP-2 network (`eip155:84532`).
    pub network: &'a str,
    /// The route pattern that priced the request (`GET /premium/*`).
    pub route: &'a str,
    /// The request method (upper case).
    pub method: &'a str,
    /// The normalised path the origin is asked for (no query).
    pub path: &'a str,
    /// Where the payment stands.
    pub status: ContextStatus,
}

/// The origin (`scheme://host[:port]`) of an absolute URL: everything before the path.
/// A text without `://` is returned whole.
pub fn origin_of(url: &str) -> &str {
    let Some(scheme_end) = url.find("://") else { return url };
    let rest = &url[scheme_end + 3..];
    let end = rest.find(['/', '?', '#']).map_or(url.len(), |i| scheme_end + 3 + i);
    &url[..end]
}

/// The origin of an absolute URL as a browser writes it (`URL.origin`): scheme and host
/// in lower case, the scheme's default port (`:443` for https, `:80` for http) left out.
/// The audience of a context, compared as an exact string by JWT libraries.
pub fn normal_origin(url: &str) -> String {
    let origin = origin_of(url).to_ascii_lowercase();
    for (scheme, port) in [("https://", ":443"), ("http://", ":80")] {
        if origin.starts_with(scheme) && origin.ends_with(port) {
            return origin[..origin.len() - port.len()].to_string();
        }
    }
    origin
}

/// Signs the claims: `base64url(header).base64url(claims).base64url(signature)`.
pub fn sign(signer: &ReceiptSigner, claims: &ContextClaims<'_>) -> String {
    signer.sign_jws(CONTEXT_TYP, to_json(claims).as_bytes())
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::codec::base64url_decode;

    const SEED: [u8; 32] = [7; 32];

    fn claims() -> ContextClaims<'static> {
        ContextClaims {
            iss: "https://api.example.com",
            aud: "http://127.0.0.1:9000",
            iat: 1_700_000_000,
            exp: 1_700_000_060,
            jti: "ab12",
            payer: "0x857b06519E91e3A54538791bDbb0E22373e36b66",
            amount: "10000",
            asset: "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
            network: "eip155:84532",
            route: "GET /premium/*",
            method: "GET",
            path: "/premium/hello",
            status: ContextStatus::Verified,
        }
    }

    fn segment(jws: &str, i: usize) -> Value {
        let part = jws.split('.').nth(i).unwrap();
        serde_json::from_slice(&base64url_decode(part).unwrap()).unwrap()
    }

    #[test]
    fn a_context_is_an_eddsa_jwt_of_its_own_type_under_the_receipt_key() {
        let signer = ReceiptSigner::from_seed(SEED);
        let jws = sign(&signer, &claims());
        let header = segment(&jws, 0);
        assert_eq!(header["alg"], "EdDSA");
        assert_eq!(header["typ"], CONTEXT_TYP);
        assert_eq!(header["kid"], signer.kid());
        let (signed, signature) = jws.rsplit_once('.').unwrap();
        let public = ed25519_compact::PublicKey::new(signer.public_key());
        let signature = ed25519_compact::Signature::from_slice(&base64url_decode(signature).unwrap()).unwrap();
        assert!(public.verify(signed.as_bytes(), &signature).is_ok());
        // Another key's signature does not verify.
        let other = ed25519_compact::PublicKey::new(ReceiptSigner::from_seed([8; 32]).public_key());
        assert!(other.verify(signed.as_bytes(), &signature).is_err());
    }

    #[test]
    fn the_claims_are_exactly_the_named_ones_in_order() {
        let jws = sign(&ReceiptSigner::from_seed(SEED), &claims());
        let part = jws.split('.').nth(1).unwrap();
        let text = String::from_utf8(base64url_decode(part).unwrap()).unwrap();
        assert_eq!(
            text,
            r#"{"iss":"https://api.example.com","aud":"http://127.0.0.1:9000","iat":1700000000,"exp":1700000060,"jti":"ab12","payer":"0x857b06519E91e3A54538791bDbb0E22373e36b66","amount":"10000","asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","network":"eip155:84532","route":"GET /premium/*","method":"GET","path":"/premium/hello","status":"verified"}"#
        );
        let settled = ContextClaims { status: ContextStatus::Settled, ..claims() };
        assert_eq!(segment(&sign(&ReceiptSigner::from_seed(SEED), &settled), 1)["status"], "settled");
    }

    #[test]
    fn strings_an_attacker_shapes_stay_inside_their_claim() {
        // A path is normalised before it gets here, but the claims are escaped whatever
        // they hold: a quote or a control character cannot add a claim.
        let path = "/a\",\"status\":\"settled\u{0}\n";
        let jws = sign(&ReceiptSigner::from_seed(SEED), &ContextClaims { path, ..claims() });
        let payload = segment(&jws, 1);
        assert_eq!(payload["path"], path);
        assert_eq!(payload["status"], "verified");
        assert_eq!(payload.as_object().unwrap().len(), 13);
    }

    #[test]
    fn the_origin_of_a_url_is_its_scheme_and_authority() {
        assert_eq!(origin_of("https://api.example.com/premium/x?y=1"), "https://api.example.com");
        assert_eq!(origin_of("http://127.0.0.1:8787"), "http://127.0.0.1:8787");
        assert_eq!(origin_of("http://[::1]:9/x"), "http://[::1]:9");
        assert_eq!(origin_of("https://h.example?q#f"), "https://h.example");
        assert_eq!(origin_of("no-scheme"), "no-scheme");
    }

    #[test]
    fn an_audience_is_written_as_a_browser_writes_an_origin() {
        for (url, want) in [
            ("https://Origin.Example.com:443/base", "https://origin.example.com"),
            ("HTTPS://origin.example.com", "https://origin.example.com"),
            ("http://127.0.0.1:80/x", "http://127.0.0.1"),
            ("http://127.0.0.1:8080/x", "http://127.0.0.1:8080"),
            ("https://o.example:8443", "https://o.example:8443"),
            ("http://o.example:443", "http://o.example:443"),
            ("http://[::1]:80/", "http://[::1]"),
            ("http://[FE80::80]/", "http://[fe80::80]"),
        ] {
            assert_eq!(normal_origin(url), want, "{url}");
        }
    }

    #[test]
    fn a_context_is_never_taken_for_a_receipt() {
        // Signed with the same key: the receipt check refuses it by its type.
        let signer = ReceiptSigner::from_seed(SEED);
        let jws = sign(&signer, &claims());
        assert!(crate::receipt::verify(&jws, &signer.public_key(), signer.kid()).is_err());
    }

    /// Generated URLs: the origin is a prefix of the URL, holds no path, query or
    /// fragment, and is the whole URL when there is none.
    #[test]
    fn generated_urls_cut_at_the_first_path_query_or_fragment() {
        let mut rng = crate::testkit::Rng(0xC0A7);
        let alphabet = b"ab:/?#.[]@1";
        for _ in 0..2000 {
            let n = rng.below(20);
            let tail: String = (0..n).map(|_| rng.pick(alphabet) as char).collect();
            let url = format!("https://{tail}");
            let o = origin_of(&url);
            assert!(url.starts_with(o));
            assert!(!o["https://".len()..].contains(['/', '?', '#']), "{url} -> {o}");
            if !tail.contains(['/', '?', '#']) {
                assert_eq!(o, url);
            } else {
                assert!(matches!(url.as_bytes()[o.len()], b'/' | b'?' | b'#'));
            }
        }
    }
}

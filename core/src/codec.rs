//! Byte codecs used on the wire: standard base64 (x402 headers), base64url without
//! padding (JWS, JWK) and `0x`-prefixed hex (EVM values). Decoders are strict: any
//! character outside the alphabet, a bad length or bad padding is an error.

/// Why a string could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// A character outside the alphabet (including whitespace).
    BadChar,
    /// A length no valid encoding has, or padding in the wrong place.
    BadLength,
    /// Non-zero bits left over in the last symbol (a non-canonical encoding).
    NonCanonical,
}

const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn encode_with(alphabet: &[u8; 64], bytes: &[u8], pad: bool) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let symbols = chunk.len() + 1;
        for i in 0..4 {
            if i < symbols {
                out.push(char::from(alphabet[((n >> (18 - 6 * i)) & 63) as usize]));
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64 with `=` padding (RFC 4648 §4), as x402 headers use.
pub fn base64_encode(bytes: &[u8]) -> String {
    encode_with(STD, bytes, true)
}

/// The JSON text of one of the project's own plain values (structs of strings, numbers,
/// options and vectors, maps with string keys): serialising those into memory cannot fail
/// (serde_json only errors on I/O, non-string map keys or a failing custom `Serialize`).
/// Were it ever to, the empty text would be refused by whatever reads it, never mis-read.
pub fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// Appends `text`, its bytes that `keep` keeps as they are and every other byte as `%XX`
/// (upper-case hex).
pub fn percent_encode(text: &str, keep: impl Fn(u8) -> bool, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in text.bytes() {
        if keep(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
}

/// base64url without padding (RFC 4648 §5), as JWS and JWK use.
pub fn base64url_encode(bytes: &[u8]) -> String {
    encode_with(URL, bytes, false)
}

fn symbol(c: u8, url: bool) -> Option<u32> {
    let v = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' if !url => 62,
        b'/' if !url => 63,
        b'-' if url => 62,
        b'_' if url => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

fn decode_with(text: &str, url: bool) -> Result<Vec<u8>, DecodeError> {
    let raw = text.as_bytes();
    if raw.iter().any(|&c| c != b'=' && symbol(c, url).is_none()) {
        return Err(DecodeError::BadChar);
    }
    let body = match raw.iter().position(|&c| c == b'=') {
        Some(at) => {
            let pad = &raw[at..];
            if !raw.len().is_multiple_of(4) || pad.len() > 2 || pad.iter().any(|&c| c != b'=') {
                return Err(DecodeError::BadLength);
            }
            &raw[..at]
        }
        None => raw,
    };
    if body.len() % 4 == 1 {
        return Err(DecodeError::BadLength);
    }
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    for chunk in body.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= symbol(c, url).ok_or(DecodeError::BadChar)? << (18 - 6 * i);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        let keep = chunk.len() - 1;
        if bytes[keep..].iter().any(|&b| b != 0) && keep < 3 {
            return Err(DecodeError::NonCanonical);
        }
        out.extend_from_slice(&bytes[..keep]);
    }
    Ok(out)
}

/// Decodes standard base64; padding is optional, but when present it must be right.
pub fn base64_decode(text: &str) -> Result<Vec<u8>, DecodeError> {
    decode_with(text, false)
}

/// Decodes base64url (padding optional).
pub fn base64url_decode(text: &str) -> Result<Vec<u8>, DecodeError> {
    decode_with(text, true)
}

/// Lower-case hex with a `0x` prefix.
pub fn hex_encode_0x(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(2 + bytes.len() * 2);
    out.push_str("0x");
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// Decodes hex digits (either case) with an optional `0x` prefix into exactly `N` bytes.
pub fn hex_decode_fixed<const N: usize>(text: &str) -> Result<[u8; N], DecodeError> {
    let digits = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")).unwrap_or(text);
    if digits.len() != N * 2 {
        return Err(DecodeError::BadLength);
    }
    let mut out = [0u8; N];
    for (i, pair) in digits.as_bytes().chunks(2).enumerate() {
        let hi = hex_digit(pair[0]).ok_or(DecodeError::BadChar)?;
        let lo = hex_digit(pair[1]).ok_or(DecodeError::BadChar)?;
        out[i] = (hi << 4) | lo;
    }
    Ok(out)
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4648_vectors_round_trip() {
        for (plain, std) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_encode(plain.as_bytes()), std, "{plain}");
            assert_eq!(base64_decode(std).unwrap(), plain.as_bytes(), "{std}");
            let unpadded = std.trim_end_matches('=');
            assert_eq!(base64_decode(unpadded).unwrap(), plain.as_bytes(), "{unpadded}");
            assert_eq!(base64url_encode(plain.as_bytes()), unpadded, "{plain}");
        }
    }

    #[test]
    fn alphabets_are_kept_apart() {
        assert_eq!(base64_decode("+/8="), Ok(vec![0xfb, 0xff]));
        assert_eq!(base64url_decode("-_8"), Ok(vec![0xfb, 0xff]));
        assert_eq!(base64_decode("-_8="), Err(DecodeError::BadChar));
        assert_eq!(base64url_decode("+/8"), Err(DecodeError::BadChar));
    }

    #[test]
    fn bad_base64_is_refused() {
        for (input, want) in [
            ("Zg=", DecodeError::BadLength),
            ("Z", DecodeError::BadLength),
            ("Zg===", DecodeError::BadLength),
            ("Zg=a", DecodeError::BadLength),
            ("Zm 9v", DecodeError::BadChar),
            ("Zm9v\n", DecodeError::BadChar),
            ("Zh==", DecodeError::NonCanonical),
        ] {
            assert_eq!(base64_decode(input), Err(want), "{input:?}");
        }
    }

    #[test]
    fn generated_bytes_round_trip_in_both_alphabets() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for len in 0..300 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            assert_eq!(base64_decode(&base64_encode(&bytes)).unwrap(), bytes, "len {len}");
            assert_eq!(base64url_decode(&base64url_encode(&bytes)).unwrap(), bytes, "len {len}");
        }
    }

    #[test]
    fn hex_round_trip_and_errors() {
        assert_eq!(hex_encode_0x(&[0, 0xab, 0xff]), "0x00abff");
        assert_eq!(hex_decode_fixed::<3>("0x00ABff"), Ok([0, 0xab, 0xff]));
        assert_eq!(hex_decode_fixed::<3>("00abff"), Ok([0, 0xab, 0xff]));
        assert_eq!(hex_decode_fixed::<3>("0x00abf"), Err(DecodeError::BadLength));
        assert_eq!(hex_decode_fixed::<3>("0x00abfg"), Err(DecodeError::BadChar));
        assert_eq!(hex_decode_fixed::<2>("0x+1ab"), Err(DecodeError::BadChar));
    }
}

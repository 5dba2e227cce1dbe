//! Small HTTP judgements the edge acts on, kept here so that host tests cover them:
//! which methods every runtime can carry, whether a client takes the HTML paywall, and
//! whether a declared body length can be stored for replay.

/// The methods every runtime carries. A request with another method that the runtime
/// cannot build is the runtime's limit (501 `method_not_supported`), not a failure of ours.
pub const STANDARD_METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"];

/// Whether `method` is one of [`STANDARD_METHODS`] (any case).
pub fn is_standard_method(method: &str) -> bool {
    STANDARD_METHODS.iter().any(|m| m.eq_ignore_ascii_case(method))
}

/// Whether an `Accept` header asks for HTML (a browser gets the paywall page).
pub fn wants_html(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.to_ascii_lowercase().contains("text/html"))
}

/// Whether a body of the declared `Content-Length` may fit the stored-response limit: an
/// absent or unreadable length may (the body is then read up to the limit and no further).
pub fn may_store(content_length: Option<&str>, limit: usize) -> bool {
    content_length.and_then(|v| v.trim().parse::<u64>().ok()).is_none_or(|n| n <= limit as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judgements() {
        for (m, want) in [("GET", true), ("patch", true), ("PROPFIND", false), ("TRACE", false), ("", false)] {
            assert_eq!(is_standard_method(m), want, "{m}");
        }
        for (accept, want) in [
            (Some("text/html,application/xhtml+xml"), true),
            (Some("TEXT/HTML"), true),
            (Some("application/json"), false),
            (None, false),
        ] {
            assert_eq!(wants_html(accept), want, "{accept:?}");
        }
        for (length, want) in
            [(None, true), (Some("10"), true), (Some(" 11 "), false), (Some("x"), true), (Some("10"), true)]
        {
            assert_eq!(may_store(length, 10), want, "{length:?}");
        }
    }
}

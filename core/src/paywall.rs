//! The HTML paywall page for people: the template from `www/paywall.html` with the
//! route's price and the challenge filled in. Placeholders: `{{DESCRIPTION}}`,
//! `{{PRICE}}`, `{{RESOURCE_URL}}`, `{{REASON}}` (HTML-escaped) and
//! `{{PAYMENT_REQUIRED_JSON}}` (the v2 challenge, safe inside `<script
//! type="application/json">`).

use crate::challenge::Challenge;
use crate::routes::PricedRoute;

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON made safe inside a `<script>` element (no `</script>`, no `<!--`).
fn script_safe_json(json: &str) -> String {
    json.replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026")
}

/// A human price such as `$0.01 USDC on eip155:84532`.
fn price_label(route: &PricedRoute) -> String {
    route
        .options
        .first()
        .map(|o| {
            let network = o.network.v1_name().map_or_else(|| o.network.caip2(), str::to_string);
            format!("{} {} on {}", o.amount.to_dollars(o.decimals), o.asset_name, network)
        })
        .unwrap_or_default()
}

/// Fills the template in one pass over it: a value is never scanned for placeholders
/// again (a resource URL holding `{{PAYMENT_REQUIRED_JSON}}` stays text).
pub fn render_paywall(template: &str, route: &PricedRoute, challenge: &Challenge) -> String {
    let json = crate::codec::to_json(&challenge.v2);
    let reason = challenge.v2.error.as_deref().unwrap_or_default();
    let value = |name: &str| match name {
        "DESCRIPTION" => Some(escape_html(&route.description)),
        "PRICE" => Some(escape_html(&price_label(route))),
        "RESOURCE_URL" => Some(escape_html(&challenge.v2.resource.url)),
        "REASON" => Some(escape_html(reason)),
        "PAYMENT_REQUIRED_JSON" => Some(script_safe_json(&json)),
        _ => None,
    };
    let mut out = String::with_capacity(template.len() + json.len());
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        let (before, marker) = rest.split_at(open);
        out.push_str(before);
        let filled = marker[2..].find("}}").and_then(|close| Some((value(&marker[2..2 + close])?, close + 4)));
        match filled {
            Some((text, len)) => {
                out.push_str(&text);
                rest = &marker[len..];
            }
            None => {
                out.push_str("{{");
                rest = &marker[2..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payment::tests::spec_option;

    fn route(description: &str) -> PricedRoute {
        PricedRoute {
            pattern: "/p".into(),
            description: description.into(),
            mime_type: String::new(),
            options: vec![spec_option()],
            template: Default::default(),
            policy: Default::default(),
            doc: Default::default(),
            bazaar: None,
        }
    }

    #[test]
    fn fills_and_escapes() {
        let route = route("<b>\"Deals\" & more</b>");
        let c = Challenge::new(&route, "https://x.test/p?a=1&b=</script>", None);
        let html = render_paywall(
            "{{DESCRIPTION}}|{{PRICE}}|{{RESOURCE_URL}}|<script>{{PAYMENT_REQUIRED_JSON}}</script>",
            &route,
            &c,
        );
        assert!(
            html.starts_with("&lt;b&gt;&quot;Deals&quot; &amp; more&lt;/b&gt;|$0.01 USDC on base-sepolia|"),
            "{html}"
        );
        assert!(html.contains("https://x.test/p?a=1&amp;b=&lt;/script&gt;"), "{html}");
        assert_eq!(html.matches("</script>").count(), 1, "{html}");
        let start = html.find("<script>").unwrap() + 8;
        let json = &html[start..html.len() - 9];
        let back: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(back["resource"]["url"], "https://x.test/p?a=1&b=</script>");
    }

    #[test]
    fn values_are_not_scanned_for_placeholders_again() {
        let route = route("{{PRICE}}");
        let c = Challenge::new(&route, "https://x.test/p?q={{PAYMENT_REQUIRED_JSON}}{{REASON}}", None);
        let html = render_paywall("{{DESCRIPTION}}|{{RESOURCE_URL}}|{{UNKNOWN}}|{{|{{PRICE", &route, &c);
        assert_eq!(html, "{{PRICE}}|https://x.test/p?q={{PAYMENT_REQUIRED_JSON}}{{REASON}}|{{UNKNOWN}}|{{|{{PRICE");
    }

    /// The shipped page (www/paywall.html) keeps every placeholder once, `{{MODE}}` (filled by
    /// the edge) among them, and its v2 challenge in the element its script reads; rendered,
    /// no known placeholder is left but `{{MODE}}`, and the embedded challenge parses.
    #[test]
    fn the_shipped_page_keeps_its_placeholders() {
        let page = include_str!("../../www/paywall.html");
        for name in ["DESCRIPTION", "PRICE", "RESOURCE_URL", "REASON", "PAYMENT_REQUIRED_JSON", "MODE"] {
            assert_eq!(page.matches(&format!("{{{{{name}}}}}")).count(), 1, "{name}");
        }
        let open = r#"<script type="application/json" id="x402-payment-required">"#;
        assert!(page.contains(&format!("{open}{{{{PAYMENT_REQUIRED_JSON}}}}</script>")));
        let route = route("Deals");
        let html =
            render_paywall(page, &route, &Challenge::new(&route, "https://x.test/p", Some("insufficient_funds")));
        for name in ["DESCRIPTION", "PRICE", "RESOURCE_URL", "REASON", "PAYMENT_REQUIRED_JSON"] {
            assert!(!html.contains(&format!("{{{{{name}}}}}")), "{name}");
        }
        assert!(html.contains(r#"data-reason="insufficient_funds""#));
        let start = html.find(open).unwrap() + open.len();
        let json = &html[start..start + html[start..].find("</script>").unwrap()];
        let back: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(back["accepts"][0]["amount"], "10000");
    }
}

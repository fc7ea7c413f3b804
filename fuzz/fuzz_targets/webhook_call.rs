//! What a trigger webhook call brings besides its URL — headers, query and body — through the checks
//! that read them: the signature check of every verification scheme (signature and timestamp headers,
//! Slack's and Stripe's formats), the delivery id for deduplication, and the payload filter (JSON
//! Pointers into the body, headers, query parameters, regexes). Never a panic; a filter gives the same
//! answer twice.
//!
//! Input, line by line: the trigger's `webhook_filter` JSON (empty: none), its `webhook_verification`
//! JSON (empty: none), the query string, header lines `name: value` up to an empty line, then the body.
#![no_main]

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use switchboard::domain::verification::{idempotency_key, SigningSecret, VerificationSettings};
use switchboard::domain::webhook_filter::{self, FilterInput};

/// The time calls are checked at: the seeds' timestamps are near it.
const NOW: i64 = 1_700_000_000;
/// Secrets the seeds are signed with: a Standard Webhooks key, and any other scheme's.
const SECRETS: [&str; 2] = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "It's a Secret to Everybody"];

fn line(rest: &mut &[u8]) -> Option<Vec<u8>> {
    if rest.is_empty() {
        return None;
    }
    let end = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
    let line = rest[..end].strip_suffix(b"\r").unwrap_or(&rest[..end]).to_vec();
    *rest = rest.get(end + 1..).unwrap_or_default();
    Some(line)
}

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    let filter = line(&mut rest).and_then(|l| serde_json::from_slice(&l).ok());
    let filter = filter.and_then(|v| webhook_filter::parse(&v).ok());
    let settings = line(&mut rest).and_then(|l| serde_json::from_slice(&l).ok());
    let settings = settings.and_then(|v| VerificationSettings::parse(&v).ok());
    let query = line(&mut rest).unwrap_or_default();
    let mut headers = HeaderMap::new();
    while let Some(l) = line(&mut rest).filter(|l| !l.is_empty()) {
        let Some(colon) = l.iter().position(|b| *b == b':') else { continue };
        let value = l[colon + 1..].strip_prefix(b" ").unwrap_or(&l[colon + 1..]);
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(&l[..colon]), HeaderValue::from_bytes(value)) {
            headers.append(name, value);
        }
    }
    let body = rest;

    let _ = idempotency_key(&headers);
    if let Some(settings) = &settings {
        let secret = SECRETS.iter().find_map(|raw| SigningSecret::parse_for(settings, raw).ok());
        let secrets: Vec<&SigningSecret> = secret.iter().collect();
        let _ = settings.verify(&secrets, &headers, body, NOW);
        let _ = settings.delivery_id(&headers, body);
    }
    if let Some(filter) = &filter {
        let query: Vec<(String, String)> = form_urlencoded::parse(&query).into_owned().collect();
        let input = FilterInput { body, headers: &headers, query: &query };
        let first = filter.matches(&input);
        assert_eq!(filter.matches(&input), first, "a filter answers the same call differently");
    }
});

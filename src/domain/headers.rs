//! Reading a request's headers by name, for the checks that look at them (signatures, filters), without
//! tying those checks to one HTTP library's types.

use actix_web::http::header::HeaderMap;

/// The first value of a header, by case-insensitive name; `None` when absent or not UTF-8.
pub trait HeaderSource {
    fn header(&self, name: &str) -> Option<&str>;
}

impl HeaderSource for HeaderMap {
    fn header(&self, name: &str) -> Option<&str> {
        // Not `HeaderValue::to_str`: it refuses every non-ASCII byte, and `café` is a fine UTF-8 value.
        self.get(name).and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
    }
}

impl HeaderSource for [(&str, &str)] {
    fn header(&self, name: &str) -> Option<&str> {
        self.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| *value)
    }
}

/// Arrays too, because an unsized slice cannot be passed as `&dyn HeaderSource`.
impl<const N: usize> HeaderSource for [(&str, &str); N] {
    fn header(&self, name: &str) -> Option<&str> {
        <[(&str, &str)] as HeaderSource>::header(self, name)
    }
}

impl HeaderSource for Vec<(String, String)> {
    fn header(&self, name: &str) -> Option<&str> {
        self.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }
}

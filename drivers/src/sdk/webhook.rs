/// An HTTP request passed on from a trigger webhook (`exec=true`) to a webhook method.
#[derive(Debug, Clone, Default)]
pub struct WebhookRequest {
    pub method: String,
    /// Lower-case names; a header sent several times appears once per value, in order.
    pub headers: Vec<(String, String)>,
    /// The query without the engine's own parameters (`secret`, `exec`, `mod`, `index`, `method`).
    pub query: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub trigger_instance_id: String,
    pub system_id: String,
    pub request_id: String,
}

impl WebhookRequest {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// What the webhook's caller receives.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl WebhookResponse {
    pub fn new(status: u16) -> Self {
        Self { status, headers: Vec::new(), body: Vec::new() }
    }

    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: value.to_string().into_bytes(),
        }
    }

    pub fn text(status: u16, text: impl Into<String>) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
            body: text.into().into_bytes(),
        }
    }
}

//! Settings, lowest to highest precedence: built-in defaults, an optional TOML file, `SWITCHBOARD_*`
//! environment variables (`__` between section and key), command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub bind: String,
    /// Where sled keeps its files.
    pub data_dir: PathBuf,
    /// Base of the webhook URLs shown to admins; `http://{bind}` when unset.
    pub public_url: Option<String>,
    /// A key accepted with the admin role, in addition to stored keys.
    pub admin_key: Option<String>,
    pub log_format: LogFormat,
    /// How long a stopping server waits for in-flight requests.
    pub shutdown_timeout_s: u64,
    pub webhook: WebhookConfig,
    pub store: StoreConfig,
    pub drivers: DriversConfig,
    pub outbound: OutboundConfig,
    pub smtp: SmtpConfig,
    pub receipts: ReceiptsConfig,
    pub actions: ActionsConfig,
    pub callouts: CalloutsConfig,
    pub console: ConsoleConfig,
}

/// The backoffice served at `/console/`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleConfig {
    pub enabled: bool,
    /// A session unused this long ends.
    pub session_idle_minutes: u64,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self { enabled: true, session_idle_minutes: 60 }
    }
}

/// What is kept of the calls made to callouts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CalloutsConfig {
    /// Log entries older than this are removed.
    pub log_retention_hours: u64,
    /// The newest log entries kept per callout.
    pub log_max_entries: usize,
    /// How long a callout's previous secret still signs after a rotation.
    pub secret_grace_period_s: u64,
}

impl Default for CalloutsConfig {
    fn default() -> Self {
        Self { log_retention_hours: 72, log_max_entries: 10_000, secret_grace_period_s: 86_400 }
    }
}

/// How the runs of trigger actions are carried out.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ActionsConfig {
    /// Actions under way at once, over all instances (one instance's runs go one at a time).
    pub concurrency: usize,
    /// The waits before each retry of a failed action; once they are used up the action is given up.
    pub retry_schedule_ms: Vec<u64>,
    /// The newest finished runs kept per trigger instance.
    pub runs_per_instance: usize,
}

impl Default for ActionsConfig {
    fn default() -> Self {
        Self { concurrency: 32, retry_schedule_ms: vec![1000, 5000, 30_000, 120_000, 600_000], runs_per_instance: 1000 }
    }
}

/// The most retries an action's schedule may list.
pub const MAX_ACTION_RETRIES: usize = 20;

/// What is kept of each webhook call for the inspector.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReceiptsConfig {
    pub enabled: bool,
    /// The newest receipts kept per trigger instance.
    pub per_instance: usize,
    /// Receipts older than this are removed.
    pub retention_hours: u64,
    /// The part of a body kept in its receipt.
    pub max_body_bytes: usize,
    /// Receipts recorded per second, over all instances; calls beyond it are served but not recorded.
    pub max_per_second: u32,
}

impl Default for ReceiptsConfig {
    fn default() -> Self {
        Self { enabled: true, per_instance: 1000, retention_hours: 72, max_body_bytes: 65_536, max_per_second: 1000 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Where state is kept: sled in `data_dir` (embedded, the default) or a PostgreSQL database.
    pub backend: StoreBackend,
    /// 0: a fire is acknowledged once its state is on the device. N: once the operating system has
    /// it (it survives the process crashing, not the machine), and the journal is synced within N ms.
    pub sync_interval_ms: u64,
    /// The PostgreSQL database (`postgres://user:password@host:port/db`), required with `backend =
    /// "postgres"`. Its password never appears in logs or errors.
    pub postgres_url: Option<PostgresUrl>,
    /// Connections the PostgreSQL pool keeps at most.
    pub postgres_pool_size: usize,
    /// The longest a PostgreSQL call may take, waiting for a connection included; past it the call
    /// fails as unavailable (503 `store_unavailable`) rather than hang.
    pub postgres_timeout_ms: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            backend: StoreBackend::Sled,
            sync_interval_ms: 0,
            postgres_url: None,
            postgres_pool_size: 16,
            postgres_timeout_ms: 5000,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    /// sled, embedded in the process, in `data_dir`.
    #[default]
    Sled,
    /// A PostgreSQL database at `store.postgres_url`.
    Postgres,
}

/// A PostgreSQL connection URL (or `key=value` string) that tokio-postgres accepts. It carries a
/// password, so it is shown only without it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PostgresUrl(String);

impl PostgresUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.parse::<tokio_postgres::Config>() {
            Ok(_) => Ok(Self(raw.to_owned())),
            // tokio-postgres names the part it could not read, never the password.
            Err(e) => Err(format!("not a PostgreSQL connection URL ({e})")),
        }
    }

    /// The connection settings it describes.
    pub fn config(&self) -> tokio_postgres::Config {
        // `parse` accepted this very string.
        self.0.parse().expect("a parsed PostgreSQL URL parses again")
    }
}

impl std::fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = self.config();
        let hosts: Vec<String> = c
            .get_hosts()
            .iter()
            .map(|h| match h {
                tokio_postgres::config::Host::Tcp(name) => name.clone(),
                tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
            })
            .collect();
        write!(f, "postgres://{}@{}/{}", c.get_user().unwrap_or(""), hosts.join(","), c.get_dbname().unwrap_or(""))
    }
}

impl TryFrom<String> for PostgresUrl {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<PostgresUrl> for String {
    fn from(url: PostgresUrl) -> Self {
        url.0
    }
}

/// The longest `store.sync_interval_ms`: a machine crash may lose this much acknowledged state.
pub const MAX_SYNC_INTERVAL_MS: u64 = 10_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboundConfig {
    /// Let subscriptions deliver to loopback, private and link-local addresses (tests, labs).
    pub allow_private_networks: bool,
    /// Time one delivery attempt may take.
    pub attempt_timeout_ms: u64,
    /// Delays before each retry; its length is the number of retries.
    pub retry_schedule_ms: Vec<u64>,
    /// Consecutive failed attempts after which a subscription is paused.
    pub pause_after_failures: u32,
    /// How long undelivered events are kept for a paused subscription.
    pub retention_days: u32,
    /// How long the previous secret still signs after a rotation.
    pub secret_grace_period_s: u64,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        Self {
            allow_private_networks: false,
            attempt_timeout_ms: 30_000,
            retry_schedule_ms: vec![
                5_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000, 7_200_000, 14_400_000, 28_800_000, 43_200_000,
            ],
            pause_after_failures: 10,
            retention_days: 7,
            secret_grace_period_s: 86_400,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    None,
    Starttls,
    Tls,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpConfig {
    /// Mail server for mailer actions; mailers fail (and count as action errors) when unset.
    pub host: Option<String>,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    pub tls: SmtpTls,
    pub from: String,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: None,
            port: 587,
            username: None,
            password: None,
            tls: SmtpTls::Starttls,
            from: "switchboard@localhost".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DriversConfig {
    /// How long a driver function or webhook method may take before the caller gets a 504.
    pub call_timeout_ms: u64,
}

impl Default for DriversConfig {
    fn default() -> Self {
        Self { call_timeout_ms: 10_000 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    pub rate_limit_per_second: u32,
    pub rate_limit_burst: u32,
    pub max_body_bytes: usize,
    /// Time to receive a whole body once the headers are in (408 after it).
    pub body_timeout_ms: u64,
    /// How long a rotated-out signing secret still verifies.
    pub verification_grace_s: u64,
    /// How long a delivery id is remembered for deduplication.
    pub dedup_window_s: u64,
    /// Delivery ids remembered per instance; the oldest go first.
    pub dedup_max_ids: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
            public_url: None,
            admin_key: None,
            log_format: LogFormat::Text,
            shutdown_timeout_s: 30,
            webhook: WebhookConfig::default(),
            store: StoreConfig::default(),
            drivers: DriversConfig::default(),
            outbound: OutboundConfig::default(),
            smtp: SmtpConfig::default(),
            receipts: ReceiptsConfig::default(),
            actions: ActionsConfig::default(),
            callouts: CalloutsConfig::default(),
            console: ConsoleConfig::default(),
        }
    }
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            rate_limit_per_second: 100,
            rate_limit_burst: 200,
            max_body_bytes: 1024 * 1024,
            body_timeout_ms: 10_000,
            verification_grace_s: 86_400,
            dedup_window_s: 86_400,
            dedup_max_ids: 10_000,
        }
    }
}

/// Settings given as command-line flags; `None` leaves the lower layers in force.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl Config {
    /// Loads every layer, reading the environment from the process.
    pub fn load(file: Option<&Path>, overrides: Overrides) -> Result<Self, ConfigError> {
        Self::load_from(file, Env::prefixed("SWITCHBOARD_").split("__"), overrides)
    }

    fn load_from(file: Option<&Path>, env: Env, overrides: Overrides) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError(format!("config file {} does not exist", path.display())));
            }
            figment = figment.merge(Toml::file(path));
        }
        let config: Config = figment
            .merge(env)
            .merge(Serialized::defaults(overrides))
            .extract()
            .map_err(|e| ConfigError(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.bind.parse::<SocketAddr>().is_err() {
            return Err(ConfigError(format!("bind: {:?} is not an address like 127.0.0.1:8080", self.bind)));
        }
        if let Some(url) = &self.public_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError(format!("public_url: {url:?} must start with http:// or https://")));
            }
        }
        if matches!(&self.admin_key, Some(k) if k.len() < 16) {
            return Err(ConfigError("admin_key: must be at least 16 characters".into()));
        }
        if self.webhook.rate_limit_per_second == 0 {
            return Err(ConfigError("webhook.rate_limit_per_second: must be at least 1".into()));
        }
        if self.webhook.rate_limit_burst == 0 {
            return Err(ConfigError("webhook.rate_limit_burst: must be at least 1".into()));
        }
        if self.store.sync_interval_ms > MAX_SYNC_INTERVAL_MS {
            return Err(ConfigError(format!("store.sync_interval_ms: at most {MAX_SYNC_INTERVAL_MS}")));
        }
        self.store.validate()?;
        if self.drivers.call_timeout_ms == 0 {
            return Err(ConfigError("drivers.call_timeout_ms: must be at least 1".into()));
        }
        if self.outbound.attempt_timeout_ms == 0 {
            return Err(ConfigError("outbound.attempt_timeout_ms: must be at least 1".into()));
        }
        if self.outbound.retry_schedule_ms.len() > crate::outbound::backoff::MAX_RETRIES {
            return Err(ConfigError(format!(
                "outbound.retry_schedule_ms: at most {} retries, got {}",
                crate::outbound::backoff::MAX_RETRIES,
                self.outbound.retry_schedule_ms.len()
            )));
        }
        if self.console.session_idle_minutes == 0 {
            return Err(ConfigError("console.session_idle_minutes: must be at least 1".into()));
        }
        if self.callouts.log_max_entries == 0 {
            return Err(ConfigError("callouts.log_max_entries: must be at least 1".into()));
        }
        if self.actions.concurrency == 0 {
            return Err(ConfigError("actions.concurrency: must be at least 1".into()));
        }
        if self.actions.retry_schedule_ms.len() > MAX_ACTION_RETRIES {
            return Err(ConfigError(format!("actions.retry_schedule_ms: at most {MAX_ACTION_RETRIES} retries")));
        }
        if self.actions.runs_per_instance == 0 {
            return Err(ConfigError("actions.runs_per_instance: must be at least 1".into()));
        }
        if self.outbound.pause_after_failures == 0 {
            return Err(ConfigError("outbound.pause_after_failures: must be at least 1".into()));
        }
        if !self.smtp.from.contains('@') {
            return Err(ConfigError("smtp.from: must be an email address".into()));
        }
        if self.webhook.max_body_bytes == 0 {
            return Err(ConfigError("webhook.max_body_bytes: must be at least 1".into()));
        }
        if self.webhook.body_timeout_ms == 0 {
            return Err(ConfigError("webhook.body_timeout_ms: must be at least 1".into()));
        }
        if self.webhook.dedup_max_ids == 0 {
            return Err(ConfigError("webhook.dedup_max_ids: must be at least 1".into()));
        }
        if self.receipts.per_instance == 0 {
            return Err(ConfigError("receipts.per_instance: must be at least 1".into()));
        }
        if self.receipts.max_per_second == 0 {
            return Err(ConfigError("receipts.max_per_second: must be at least 1".into()));
        }
        Ok(())
    }
}

impl StoreConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.backend == StoreBackend::Postgres && self.postgres_url.is_none() {
            return Err(ConfigError(
                "store.postgres_url: required with store.backend = \"postgres\" (or SWITCHBOARD_STORE__POSTGRES_URL)"
                    .into(),
            ));
        }
        if self.postgres_pool_size == 0 {
            return Err(ConfigError("store.postgres_pool_size: must be at least 1".into()));
        }
        if self.postgres_timeout_ms == 0 {
            return Err(ConfigError("store.postgres_timeout_ms: must be at least 1".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::result_large_err)] // figment's own error type, only in tests
    fn load(toml: Option<&str>, env: &[(&str, &str)], overrides: Overrides) -> Result<Config, ConfigError> {
        let mut out = None;
        figment::Jail::expect_with(|jail| {
            let file = toml.map(|t| {
                jail.create_file("sb.toml", t).expect("write file");
                PathBuf::from("sb.toml")
            });
            for (k, v) in env {
                jail.set_env(k, v);
            }
            out = Some(Config::load(file.as_deref(), overrides));
            Ok(())
        });
        out.expect("the jail ran")
    }

    #[test]
    fn defaults_apply_without_any_layer() {
        let c = load(None, &[], Overrides::default()).unwrap();
        assert_eq!(c.bind, "127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        assert_eq!(c.webhook.rate_limit_per_second, 100);
    }

    #[test]
    fn later_layers_win() {
        let toml = "bind = \"127.0.0.1:1000\"\ndata_dir = \"/from/file\"\n[webhook]\nrate_limit_burst = 5\n";
        let env = [("SWITCHBOARD_BIND", "127.0.0.1:2000"), ("SWITCHBOARD_WEBHOOK__RATE_LIMIT_BURST", "7")];
        let flags = Overrides { bind: Some("127.0.0.1:3000".into()), ..Default::default() };
        let c = load(Some(toml), &env, flags).unwrap();
        assert_eq!(c.bind, "127.0.0.1:3000");
        assert_eq!(c.data_dir, PathBuf::from("/from/file"));
        assert_eq!(c.webhook.rate_limit_burst, 7);
    }

    #[test]
    fn invalid_values_name_their_key() {
        for (env, key) in [
            (("SWITCHBOARD_BIND", "nowhere"), "bind"),
            (("SWITCHBOARD_WEBHOOK__RATE_LIMIT_PER_SECOND", "fast"), "rate_limit_per_second"),
            (("SWITCHBOARD_WEBHOOK__MAX_BODY_BYTES", "0"), "max_body_bytes"),
            (("SWITCHBOARD_PUBLIC_URL", "ftp://x"), "public_url"),
            (("SWITCHBOARD_OUTBOUND__RETRY_SCHEDULE_MS", "[1,2,3,4,5,6,7,8,9,10,11]"), "retry_schedule_ms"),
        ] {
            let err = load(None, &[env], Overrides::default()).unwrap_err().to_string().to_lowercase();
            assert!(err.contains(key), "{err} should name {key}");
        }
    }

    #[test]
    fn the_postgres_backend_is_chosen_in_the_file_or_the_environment() {
        let url = "postgres://sb:s3cret-pw@db.example:5433/switchboard";
        let toml = format!("[store]\nbackend = \"postgres\"\npostgres_url = \"{url}\"\npostgres_pool_size = 4\n");
        let c = load(Some(&toml), &[], Overrides::default()).unwrap();
        assert_eq!(c.store.backend, StoreBackend::Postgres);
        assert_eq!(c.store.postgres_pool_size, 4);
        assert_eq!(c.store.postgres_timeout_ms, 5000);
        assert_eq!(c.store.postgres_url.as_ref().map(|u| u.config().get_ports().to_vec()), Some(vec![5433]));

        let env = [("SWITCHBOARD_STORE__BACKEND", "postgres"), ("SWITCHBOARD_STORE__POSTGRES_URL", url)];
        let c = load(None, &env, Overrides::default()).unwrap();
        assert_eq!(c.store.backend, StoreBackend::Postgres);
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cret-pw"), "the password is shown: {shown}");
        assert!(shown.contains("postgres://sb@db.example/switchboard"), "{shown}");
    }

    #[test]
    fn sled_stays_the_default_backend() {
        let c = load(None, &[], Overrides::default()).unwrap();
        assert_eq!(c.store.backend, StoreBackend::Sled);
        assert!(c.store.postgres_url.is_none());
        assert_eq!(c.store.postgres_pool_size, 16);
    }

    #[test]
    fn bad_postgres_settings_are_refused_with_their_key() {
        for (env, key) in [
            (&[("SWITCHBOARD_STORE__BACKEND", "postgres")][..], "store.postgres_url"),
            (&[("SWITCHBOARD_STORE__BACKEND", "mysql")][..], "backend"),
            (&[("SWITCHBOARD_STORE__POSTGRES_POOL_SIZE", "0")][..], "store.postgres_pool_size"),
            (&[("SWITCHBOARD_STORE__POSTGRES_TIMEOUT_MS", "0")][..], "store.postgres_timeout_ms"),
            (&[("SWITCHBOARD_STORE__POSTGRES_URL", "postgres://u:hunter2-pw@h:notaport/db")][..], "postgres_url"),
        ] {
            let err = load(None, env, Overrides::default()).unwrap_err().to_string().to_lowercase();
            assert!(err.contains(key), "{err} should name {key}");
            assert!(!err.contains("hunter2-pw"), "{err} shows the password");
        }
    }

    #[test]
    fn unknown_keys_in_the_file_are_rejected() {
        let err = load(Some("bnd = \"x\"\n"), &[], Overrides::default()).unwrap_err().to_string();
        assert!(err.contains("bnd"), "{err}");
    }
}

#[cfg(test)]
mod example_file {
    use super::*;

    #[test]
    fn the_shipped_example_configuration_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/switchboard.toml");
        let text = std::fs::read_to_string(&path).expect("example config exists");
        let config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(&text))
            .extract()
            .expect("the example parses");
        assert_eq!(config.bind, Config::default().bind);
        assert_eq!(config.webhook.max_body_bytes, WebhookConfig::default().max_body_bytes);
    }
}

//! One configuration loader for every role: built-in defaults, then a TOML file, then
//! environment variables `HELIOGRAPH_<SECTION>__<KEY>` (e.g. `HELIOGRAPH_INGEST__LISTEN`).

use std::net::SocketAddr;
use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use heliograph_ingest::IngestSettings;
use heliograph_mailer::MailerSettings;
use heliograph_shared::alerts::MonitorSettings;
use heliograph_shared::store::StoreSettings;
use heliograph_web::WebSettings;
use serde::{Deserialize, Serialize};

/// Every setting of the process.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Which store, and how to reach it.
    pub store: StoreSettings,
    /// Ingest listeners and limits.
    pub ingest: IngestSettings,
    /// The web panel.
    pub web: WebSettings,
    /// Customer summaries and alert emails.
    pub mailer: MailerSettings,
    /// The alert monitor.
    pub monitor: MonitorSettings,
    /// Logging.
    pub log: LogSettings,
    /// The internal listener for probes and metrics.
    pub ops: OpsSettings,
}

/// Where each role serves `/healthz`, `/readyz` and `/metrics`: an internal listener, apart from
/// the ports gateways and browsers reach (the metrics name every provider). One per role, so
/// that the roles can share a configuration file on one host; `None` serves no probes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OpsSettings {
    /// `heliograph ingest`, and `heliograph serve` (all roles in one process).
    pub ingest: Option<SocketAddr>,
    /// `heliograph web`.
    pub web: Option<SocketAddr>,
    /// `heliograph mailer`.
    pub mailer: Option<SocketAddr>,
    /// `heliograph monitor`.
    pub monitor: Option<SocketAddr>,
}

impl Default for OpsSettings {
    fn default() -> Self {
        let local = |port| Some(SocketAddr::from(([127, 0, 0, 1], port)));
        Self { ingest: local(7790), web: local(7791), mailer: local(7792), monitor: local(7793) }
    }
}

/// Log format and filter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogSettings {
    /// `pretty` for people, `json` for Logstash/Loki.
    pub format: LogFormat,
    /// An `EnvFilter` directive, e.g. `info,heliograph_ingest=debug`; `RUST_LOG` wins if set.
    pub filter: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self { format: LogFormat::Pretty, filter: "info".to_owned() }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

impl Settings {
    /// Loads settings: defaults, then `path` if given (it must exist), then the environment.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = path {
            anyhow::ensure!(path.exists(), "configuration file {} does not exist", path.display());
            figment = figment.merge(Toml::file(path));
        }
        figment = figment.merge(Env::prefixed("HELIOGRAPH_").split("__"));
        Ok(figment.extract()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns its own large error type
    fn files_override_defaults_and_the_environment_overrides_files() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "heliograph.toml",
                r#"
                [store]
                backend = "cassandra"
                nodes = ["127.0.0.1:9042"]
                consistency = "one"
                [ingest]
                max_document_bytes = 2048
                "#,
            )?;
            jail.set_env("HELIOGRAPH_INGEST__MAX_DOCUMENT_BYTES", "4096");
            let settings = Settings::load(Some(Path::new("heliograph.toml"))).expect("valid settings");
            assert_eq!(settings.ingest.max_document_bytes, 4096);
            assert!(matches!(settings.store, StoreSettings::Cassandra(_)));
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns its own large error type
    fn the_mailer_section_reads_smtp_settings_and_takes_its_password_from_the_environment() {
        use heliograph_mailer::{SmtpSecurity, TransportKind};
        use secrecy::ExposeSecret as _;
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "heliograph.toml",
                r#"
                [mailer]
                transport = "smtp"
                from_address = "reports@acme.example"
                [mailer.smtp]
                host = "smtp.acme.example"
                security = "tls"
                username = "heliograph"
                "#,
            )?;
            jail.set_env("HELIOGRAPH_MAILER__SMTP__PASSWORD", "s3cret");
            let settings = Settings::load(Some(Path::new("heliograph.toml"))).expect("valid settings");
            assert_eq!(settings.mailer.transport, TransportKind::Smtp);
            assert_eq!(settings.mailer.smtp.security, SmtpSecurity::Tls);
            let password = settings.mailer.smtp.password.as_ref().expect("a password");
            assert_eq!(password.expose_secret(), "s3cret");
            assert!(!format!("{:?}", settings.mailer).contains("s3cret"), "the password is never printed");
            Ok(())
        });
    }
}

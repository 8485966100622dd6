//! The mailer's settings (`[mailer]` in the configuration file). Every bound is here.

use std::path::PathBuf;
use std::time::Duration;

use chrono::TimeDelta;
use heliograph_shared::{SECRET_ADVICE, SecretError, SigningSecret, UnsubscribeKey};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// How mail leaves the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransportKind {
    /// An SMTP server (production), configured in `[mailer.smtp]`.
    Smtp,
    /// One `.eml` file per message in `outbox_dir` (the embedded default).
    #[default]
    File,
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS, which is required (port 587).
    Starttls,
    /// TLS from the first byte (SMTPS, port 465).
    Tls,
    /// No encryption: only for a relay on localhost.
    Plain,
}

/// An SMTP server and how to use it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SmtpSettings {
    /// Host name (also the name its certificate must carry).
    pub host: String,
    /// Port; 587 for STARTTLS, 465 for TLS, 25 for plain when unset.
    pub port: Option<u16>,
    /// Encryption.
    pub security: SmtpSecurity,
    /// User name for authentication, if the server wants one.
    pub username: Option<String>,
    /// Password; never logged.
    #[serde(skip_serializing)]
    pub password: Option<SecretString>,
    /// Connections kept open to the server (pooled and reused).
    pub pool_size: u32,
    /// Timeout of each SMTP command, seconds.
    pub timeout_secs: u64,
}

impl Default for SmtpSettings {
    fn default() -> Self {
        Self {
            host: "localhost".to_owned(),
            port: None,
            security: SmtpSecurity::Starttls,
            username: None,
            password: None,
            pool_size: 8,
            timeout_secs: 30,
        }
    }
}

/// Everything the mailer needs to know.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct MailerSettings {
    /// Whether `heliograph serve` runs the mailer.
    pub enabled: bool,
    /// How mail is sent.
    pub transport: TransportKind,
    /// The SMTP server, when `transport = "smtp"`.
    pub smtp: SmtpSettings,
    /// Where the file transport writes; `outbox` under the store's data directory when unset.
    pub outbox_dir: Option<PathBuf>,
    /// The sender address; the display name is the provider's brand.
    pub from_address: String,
    /// The panel's public URL, for unsubscribe links.
    pub public_url: String,
    /// Secret that signs unsubscribe links: hex or base64 of at least 32 random bytes
    /// (`openssl rand -hex 32`); the web panel verifies them with the same one. When unset on
    /// the embedded store, one is created in `<data_dir>/unsubscribe.key` (mode 0600).
    #[serde(skip_serializing, deserialize_with = "heliograph_shared::optional_secret")]
    pub unsubscribe_secret: Option<SigningSecret>,
    /// Seconds between scheduler rounds (due summaries, alert notices, retries).
    pub tick_secs: u64,
    /// Whether customers are emailed their alerts (detection is the monitor's, `[monitor]`).
    pub alerts: bool,
    /// Minutes after a period closes before its summary goes out (late readings arrive).
    pub summary_delay_minutes: i64,
    /// How far back, in days, closed periods are still sent when the mailer was not running.
    pub catch_up_days: i64,
    /// Emails computed and sent at once.
    pub concurrency: usize,
    /// Seconds a claim holds before another mailer may take it over; longer than any send.
    pub lease_secs: i64,
    /// First retry delay after a failure, seconds; doubled at each further failure.
    pub retry_base_secs: i64,
    /// Longest retry delay, seconds.
    pub retry_max_secs: i64,
    /// At most one alert email per customer in this many minutes (openings and clearings in
    /// between are gathered into the next one).
    pub alert_min_interval_minutes: i64,
    /// Deliveries picked up for retry per provider per round.
    pub retry_batch: usize,
}

impl Default for MailerSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            transport: TransportKind::default(),
            smtp: SmtpSettings::default(),
            outbox_dir: None,
            from_address: "reports@heliograph.invalid".to_owned(),
            public_url: "http://localhost:8080".to_owned(),
            unsubscribe_secret: None,
            tick_secs: 60,
            alerts: true,
            summary_delay_minutes: 60,
            catch_up_days: 7,
            concurrency: 32,
            lease_secs: 600,
            retry_base_secs: 60,
            retry_max_secs: 6 * 3600,
            alert_min_interval_minutes: 60,
            retry_batch: 1000,
        }
    }
}

impl MailerSettings {
    /// Time between scheduler rounds.
    pub fn tick(&self) -> Duration {
        Duration::from_secs(self.tick_secs.max(1))
    }

    /// A claim's lease.
    pub fn lease(&self) -> TimeDelta {
        TimeDelta::seconds(self.lease_secs.max(1))
    }

    /// The delay before attempt `attempt + 1` after `attempt` failed: base × 2^(attempt-1),
    /// at most the maximum.
    pub fn retry_delay(&self, attempt: u32) -> TimeDelta {
        let base = self.retry_base_secs.max(1);
        let factor = 1_i64.checked_shl(attempt.saturating_sub(1).min(40)).unwrap_or(i64::MAX);
        TimeDelta::seconds(base.saturating_mul(factor).min(self.retry_max_secs.max(base)))
    }
}

/// Why the unsubscribe key cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file holds no usable secret.
    #[error(
        "the unsubscribe key in {path} is refused: {reason}; replace it ({SECRET_ADVICE}) or delete it to have one made"
    )]
    Weak {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: SecretError,
    },
    /// No secret configured and no data directory to keep one in.
    #[error("set [mailer] unsubscribe_secret (the same for mailer and web processes; {SECRET_ADVICE})")]
    Missing,
    /// The key file cannot be read or written.
    #[error("cannot use the unsubscribe key file {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

impl MailerSettings {
    /// The key that signs unsubscribe links: the configured secret, else (embedded store) the
    /// one kept in `<data_dir>/unsubscribe.key`, created on first use. The web panel must use the
    /// same key to verify the links; call this for it too.
    pub fn unsubscribe_key(&self, data_dir: Option<&std::path::Path>) -> Result<UnsubscribeKey, KeyError> {
        let secret = match &self.unsubscribe_secret {
            Some(secret) => secret.clone(),
            None => key_file(&data_dir.ok_or(KeyError::Missing)?.join("unsubscribe.key"))?,
        };
        Ok(UnsubscribeKey::new(secret.expose()).expect("a checked secret carries at least 32 bytes"))
    }
}

/// The secret kept in `path`, made (mode 0600: it signs links) when the file does not exist.
fn key_file(path: &std::path::Path) -> Result<SigningSecret, KeyError> {
    let file_error = |source| KeyError::File { path: path.to_path_buf(), source };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(file_error)?;
            }
            let fresh = SigningSecret::generate_hex();
            let mut options = std::fs::OpenOptions::new();
            // create_new: if another process created it meanwhile, use theirs.
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match options.open(path) {
                Ok(mut file) => {
                    std::io::Write::write_all(&mut file, fresh.as_bytes()).map_err(file_error)?;
                    file.sync_all().map_err(file_error)?;
                    fresh
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    std::fs::read_to_string(path).map_err(file_error)?
                }
                Err(e) => return Err(file_error(e)),
            }
        }
        Err(e) => return Err(file_error(e)),
    };
    SigningSecret::parse(&text).map_err(|reason| KeyError::Weak { path: path.to_path_buf(), reason })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_up_to_the_maximum() {
        let settings =
            MailerSettings { retry_base_secs: 60, retry_max_secs: 3600, ..MailerSettings::default() };
        let delays: Vec<i64> = (1..=8).map(|a| settings.retry_delay(a).num_seconds()).collect();
        assert_eq!(delays, vec![60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(settings.retry_delay(u32::MAX).num_seconds(), 3600);
    }

    #[test]
    fn the_embedded_unsubscribe_key_is_created_once_and_then_reused() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let settings = MailerSettings::default();
        let first = settings.unsubscribe_key(Some(dir.path())).expect("created");
        let second = settings.unsubscribe_key(Some(dir.path())).expect("read back");
        let provider = heliograph_shared::ProviderSlug::parse("acme").expect("valid slug");
        let customer = heliograph_shared::CustomerId::new_random();
        let token = first.sign(&provider, customer, heliograph_shared::UnsubscribeScope::Summaries);
        assert!(second.verify(&token).is_ok());
        assert!(matches!(settings.unsubscribe_key(None), Err(KeyError::Missing)));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode =
                std::fs::metadata(dir.path().join("unsubscribe.key")).expect("exists").permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "only the owner reads the key file");
        }
    }

    #[test]
    fn a_key_file_holding_a_placeholder_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("unsubscribe.key");
        std::fs::write(&path, "change-me-to-64-random-hex-digits\n").expect("writes");
        let refused = MailerSettings::default().unsubscribe_key(Some(dir.path()));
        let Err(error) = refused else { panic!("a placeholder key was accepted") };
        assert!(matches!(error, KeyError::Weak { reason: SecretError::Placeholder, .. }), "{error}");
        assert!(error.to_string().contains("openssl rand -hex 32"), "{error}");
        assert_eq!(std::fs::read_to_string(&path).expect("kept"), "change-me-to-64-random-hex-digits\n");
    }
}

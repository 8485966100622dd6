//! The command line: one binary, the role is the command.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Heliograph: solar plant monitoring for installers and O&M companies.
#[derive(Debug, Parser)]
#[command(name = "heliograph", version, about)]
pub struct Cli {
    /// Configuration file (TOML); environment variables `HELIOGRAPH_<SECTION>__<KEY>` override it.
    #[arg(long, short, global = true, env = "HELIOGRAPH_CONFIG")]
    pub config: Option<PathBuf>,
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Roles and administration commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Everything in one process (ingest, web, mailer and alert monitor) on the embedded store by
    /// default.
    Serve(ServeArgs),
    /// The ingest server alone.
    Ingest,
    /// The web panel alone.
    Web,
    /// The mailer: sends due summaries and alert emails, or one summary on demand.
    Mailer(MailerArgs),
    /// The alert monitor: checks every provider's sites for alerts and keeps them in the store.
    Monitor,
    /// Manage providers (tenants).
    #[command(subcommand)]
    Provider(ProviderCommand),
    /// Manage a provider's customers.
    #[command(subcommand)]
    Customer(CustomerCommand),
    /// Manage a provider's gateways.
    #[command(subcommand)]
    Gateway(GatewayCommand),
    /// Manage a provider's panel users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage operator accounts (they create providers and their first users in the panel).
    #[command(subcommand)]
    Operator(OperatorCommand),
    /// Print a device's stored readings (a read-back through the provider's own namespace).
    Readings(ReadingsArgs),
    /// Inspect or drain an ingest spool directory (with no ingest process using it).
    #[command(subcommand)]
    Spool(SpoolCommand),
    /// Push simulated solar readings from N gateways to an ingest server.
    Simulate(heliograph_simulator::simulate::SimulateArgs),
    /// Load an ingest server with many gateways and measure throughput and ack latency.
    Load(heliograph_simulator::load::LoadArgs),
}

/// `spool` subcommands. Each takes the directory's lock, so none runs beside an ingest process
/// that uses the same directory.
#[derive(Debug, Subcommand)]
pub enum SpoolCommand {
    /// What the spool holds: records waiting for replay, bytes, dead letters.
    Status {
        /// The spool directory (default: `[ingest] spool_dir`).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
    /// Store everything the spool holds and exit once it is empty (a replica's spool left
    /// behind by a scale-down, say).
    Drain {
        /// The spool directory (default: `[ingest] spool_dir`).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
    /// Put the dead letters' records back in the spool, to be stored by the next drain or
    /// ingest start (once what made the store refuse them is fixed).
    RequeueDeadLetters {
        /// The spool directory (default: `[ingest] spool_dir`).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
}

/// `serve` options.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Create two demo providers with customers and gateways (if missing) and keep simulated
    /// gateways pushing live data, so the panel shows something at once.
    #[arg(long)]
    pub demo: bool,
}

/// `mailer` options.
#[derive(Debug, Args)]
pub struct MailerArgs {
    /// Without a subcommand, the scheduler runs until SIGTERM or SIGINT.
    #[command(subcommand)]
    pub command: Option<MailerCommand>,
}

/// `mailer` subcommands.
#[derive(Debug, Subcommand)]
pub enum MailerCommand {
    /// Send (or resend) one customer's summary of one period now.
    SendNow {
        /// Provider slug.
        #[arg(long)]
        provider: String,
        /// Customer id.
        #[arg(long)]
        customer: String,
        /// 2026-03-29 (a day), 2026-W13 (an ISO week) or 2026-03 (a month), in the customer's timezone.
        #[arg(long)]
        period: String,
    },
    /// Render one customer's summary of one period to an HTML file without sending it.
    Preview {
        /// Provider slug.
        #[arg(long)]
        provider: String,
        /// Customer id.
        #[arg(long)]
        customer: String,
        /// 2026-03-29, 2026-W13 or 2026-03.
        #[arg(long)]
        period: String,
        /// Where to write the HTML (the plain text goes beside it, as .txt).
        #[arg(long, default_value = "summary.html")]
        out: PathBuf,
    },
}

/// `provider` subcommands.
#[derive(Debug, Subcommand)]
pub enum ProviderCommand {
    /// Register a provider and create its keyspace (or database).
    Add {
        /// Slug: `[a-z][a-z0-9_]{0,31}`; the keyspace is `hg_<slug>`.
        slug: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Keyspace replication: simple:N or dc1:N,dc2:M.
        #[arg(long, default_value = "simple:1")]
        replication: String,
        /// A TCP port of its own for gateway ingest.
        #[arg(long)]
        ingest_port: Option<u16>,
        /// Default timezone (IANA name).
        #[arg(long, default_value = "UTC")]
        timezone: String,
        /// Days raw readings are kept (0 keeps them forever).
        #[arg(long, default_value_t = 730)]
        retention_days: u32,
        /// Customers' summary emails unless they chose otherwise: daily, weekly, monthly or never.
        #[arg(long, default_value = "monthly")]
        summaries: String,
    },
    /// List providers.
    List,
}

/// `customer` subcommands.
#[derive(Debug, Subcommand)]
pub enum CustomerCommand {
    /// Add a customer; prints its id.
    Add {
        /// Provider slug.
        #[arg(long)]
        provider: String,
        /// Customer name.
        #[arg(long)]
        name: String,
        /// Email addresses (repeatable).
        #[arg(long = "email")]
        emails: Vec<String>,
        /// Timezone (IANA name); defaults to the provider's.
        #[arg(long)]
        timezone: Option<String>,
    },
    /// List a provider's customers.
    List {
        /// Provider slug.
        #[arg(long)]
        provider: String,
    },
}

/// `gateway` subcommands.
#[derive(Debug, Subcommand)]
pub enum GatewayCommand {
    /// Add a gateway; prints its token once (only a hash is stored).
    Add {
        /// Provider slug.
        #[arg(long)]
        provider: String,
        /// Gateway id (unique across the installation).
        id: String,
        /// Site name.
        #[arg(long)]
        site: String,
        /// Installed capacity, kWp.
        #[arg(long, default_value_t = 10.0)]
        capacity_kwp: f64,
        /// Customer id to commission it to.
        #[arg(long)]
        customer: Option<String>,
        /// The site's location, "latitude, longitude" in decimal degrees (e.g. "48.1372, 11.5755"):
        /// its sunrise and sunset decide the site's daylight (without it, 06:00 to 20:00 local).
        #[arg(long, allow_hyphen_values = true)]
        location: Option<String>,
    },
    /// Set or clear a site's location ("latitude, longitude"; "" clears it).
    Locate {
        /// Provider slug.
        #[arg(long)]
        provider: String,
        /// Gateway id.
        id: String,
        /// "latitude, longitude" in decimal degrees, or "" for none.
        #[arg(allow_hyphen_values = true)]
        location: String,
    },
    /// Issue a new token; the old one keeps working for the grace period.
    RotateToken {
        /// Provider slug.
        #[arg(long)]
        provider: String,
        /// Gateway id.
        id: String,
        /// Hours the previous token stays valid.
        #[arg(long, default_value_t = 24, conflicts_with = "revoke_previous")]
        grace_hours: i64,
        /// Refuse the previous token at once (a stolen token): open connections that used it are
        /// closed within the ingest's gateway cache time.
        #[arg(long)]
        revoke_previous: bool,
    },
    /// List a provider's gateways.
    List {
        /// Provider slug.
        #[arg(long)]
        provider: String,
    },
}

/// `user` subcommands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a panel user to a provider. The password is read from stdin (--password-stdin) or
    /// from HELIOGRAPH_PASSWORD, never from the command line.
    Add {
        /// Provider slug.
        #[arg(long)]
        provider: String,
        /// Login name: 1-64 characters of a-z, 0-9, '.', '_', '@', '-'.
        username: String,
        /// Name shown in the panel.
        #[arg(long)]
        display_name: String,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List a provider's users.
    List {
        /// Provider slug.
        #[arg(long)]
        provider: String,
    },
    /// Give a user a new password (read as for `add`); every session of the user ends.
    Password {
        /// Provider slug.
        #[arg(long)]
        provider: String,
        /// Login name.
        username: String,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Deactivate a user: no more logins, and every session of the user ends.
    Deactivate {
        /// Provider slug.
        #[arg(long)]
        provider: String,
        /// Login name.
        username: String,
    },
}

/// `operator` subcommands.
#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Add an operator, or reset an existing one's password. The password is read from stdin
    /// (--password-stdin) or from HELIOGRAPH_PASSWORD, never from the command line.
    Add {
        /// Login name: 1-64 characters of a-z, 0-9, '.', '_', '@', '-'.
        username: String,
        /// Name shown in the panel.
        #[arg(long)]
        display_name: String,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Deactivate an operator: no more logins, and every session of the operator ends.
    Deactivate {
        /// Login name.
        username: String,
    },
}

/// `readings` options.
#[derive(Debug, Args)]
pub struct ReadingsArgs {
    /// Provider slug.
    #[arg(long)]
    pub provider: String,
    /// Gateway id.
    #[arg(long)]
    pub gateway: String,
    /// Device id.
    #[arg(long)]
    pub device: String,
    /// Start (RFC 3339), default 24 hours ago.
    #[arg(long)]
    pub from: Option<String>,
    /// End (RFC 3339, exclusive), default now.
    #[arg(long)]
    pub to: Option<String>,
    /// At most this many rows.
    #[arg(long, default_value_t = 1000)]
    pub limit: usize,
    /// Print only the count.
    #[arg(long)]
    pub count: bool,
}

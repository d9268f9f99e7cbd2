//! The `tessera` command line: `up`, `down`, `node`, `ctl`, `events`.

mod ctl;
mod ctl_progress;
mod ctl_vitess;
mod ctl_workflow;
mod events;
mod example;
mod local_auth;
pub use local_auth::write_private as write_private_file;
mod output;
mod up;
mod up_nats;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::NodeConfig;

/// tessera: a MySQL sharding runtime of actors over NATS.
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// How log lines are written (to stderr): `text`, or `json` (one object per line, for log
    /// collectors). Colour codes only on a terminal.
    #[arg(long, global = true, default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the local development cluster (NATS with JetStream and one node), or reuse it.
    Up(up::UpArgs),
    /// Stop what `tessera up` started.
    Down(up::DownArgs),
    /// Run a node: join the cluster over NATS and host what the config names.
    Node(NodeArgs),
    /// Publish one admin command and print the reply.
    Ctl(ctl::CtlArgs),
    /// Print cluster events as they happen.
    Events(events::EventsArgs),
    /// Print the NATS permissions of tessera's roles as a nats-server `authorization` block
    /// (passwords read from the server's environment: $TESSERA_NODE_PASSWORD, ...).
    NatsRoles(NatsRolesArgs),
}

#[derive(Debug, clap::Args)]
pub struct NatsRolesArgs {
    /// Only these roles (node, gateway, admin, observer); default all.
    #[arg(long = "role", value_parser = crate::nats_roles::Role::parse)]
    pub roles: Vec<crate::nats_roles::Role>,
}

/// NATS credentials and TLS, for every command (each also from its environment variable).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct NatsAuthArgs {
    /// NATS user (with --nats-password).
    #[arg(long = "nats-user", env = "TESSERA_NATS_USER", global = true)]
    pub user: Option<String>,
    #[arg(long = "nats-password", env = "TESSERA_NATS_PASSWORD", global = true, hide_env_values = true)]
    pub password: Option<String>,
    /// NATS token.
    #[arg(long = "nats-token", env = "TESSERA_NATS_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// A NATS `.creds` file (JWT and nkey seed).
    #[arg(long = "nats-creds", env = "TESSERA_NATS_CREDS", global = true)]
    pub creds: Option<String>,
    /// A file holding a NATS nkey seed.
    #[arg(long = "nats-nkey", env = "TESSERA_NATS_NKEY", global = true)]
    pub nkey: Option<String>,
    /// CA certificate to verify the NATS servers with (requires TLS).
    #[arg(long = "nats-tls-ca", env = "TESSERA_NATS_TLS_CA", global = true)]
    pub tls_ca: Option<String>,
    /// Client certificate and key for NATS servers that verify clients.
    #[arg(long = "nats-tls-cert", env = "TESSERA_NATS_TLS_CERT", global = true)]
    pub tls_cert: Option<String>,
    #[arg(long = "nats-tls-key", env = "TESSERA_NATS_TLS_KEY", global = true)]
    pub tls_key: Option<String>,
}

impl NatsAuthArgs {
    /// The credentials of a command acting as `role`: the flags (or their environment
    /// variables) if any is given; else those `tessera up` wrote for the role under the local
    /// cluster's home (`$TESSERA_HOME`, default `./tessera-data`), if there; else none.
    pub fn resolve(self, role: crate::nats_roles::Role) -> anyhow::Result<crate::nats::NatsAuth> {
        let given = [&self.user, &self.password, &self.token, &self.creds, &self.nkey, &self.tls_ca, &self.tls_cert]
            .iter()
            .any(|f| f.is_some());
        if given {
            return Ok(self.over(Default::default()));
        }
        let home =
            std::env::var_os("TESSERA_HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(up::DEFAULT_HOME));
        Ok(crate::nats::local_credentials(&home, role)?.unwrap_or_default())
    }

    /// `base` (the config's) with every flag given replacing its field.
    pub fn over(self, mut base: crate::nats::NatsAuth) -> crate::nats::NatsAuth {
        let fields = [
            (self.user, &mut base.user),
            (self.password, &mut base.password),
            (self.token, &mut base.token),
            (self.creds, &mut base.creds),
            (self.nkey, &mut base.nkey),
            (self.tls_ca, &mut base.tls_ca),
            (self.tls_cert, &mut base.tls_cert),
            (self.tls_key, &mut base.tls_key),
        ];
        for (flag, field) in fields {
            if let Some(v) = flag {
                *field = v;
            }
        }
        base
    }
}

#[derive(Debug, clap::Args)]
pub struct NodeArgs {
    #[command(flatten)]
    pub nats_auth: NatsAuthArgs,
    /// TOML config file (see config/node.toml); flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// NATS server URL.
    #[arg(long, env = "TESSERA_NATS")]
    pub nats: Option<String>,
    /// NATS monitoring URL(s), comma-separated, to check the servers' durability settings.
    #[arg(long)]
    pub nats_monitor: Option<String>,
    /// Cell this node belongs to.
    #[arg(long)]
    pub cell: Option<String>,
    /// Node id (default `<cell>-<hostname>-<pid>`).
    #[arg(long)]
    pub id: Option<String>,
    /// HTTP status address, e.g. 127.0.0.1:15000; "" disables it.
    #[arg(long)]
    pub http: Option<String>,
    /// Heartbeat period in milliseconds.
    #[arg(long)]
    pub heartbeat_ms: Option<u64>,
    /// Report a peer lost after this many milliseconds without a heartbeat.
    #[arg(long)]
    pub lost_after_ms: Option<u64>,
    /// Host a tablet: `alias:keyspace/shard:type[:port]` (tessera runs its mysqld) or
    /// `alias:keyspace/shard:type@host:port` (an external MySQL). Repeatable.
    #[arg(long = "tablet", value_parser = crate::config::TabletConfig::parse_flag)]
    pub tablets: Vec<crate::config::TabletConfig>,
    /// Where managed tablets keep their data.
    #[arg(long)]
    pub data_dir: Option<String>,
    /// The MariaDB template data dir (built on first use).
    #[arg(long)]
    pub mysql_template: Option<String>,
    /// Serve MySQL clients on this address (host a gateway).
    #[arg(long)]
    pub gateway: Option<String>,
    /// Gateway authentication: `users` (the users file) or `none` (development only).
    #[arg(long)]
    pub auth: Option<String>,
    /// Gateway users file.
    #[arg(long)]
    pub users_file: Option<String>,
    /// `node` (default) or `gateway` (a node that only runs a gateway; see `tessera nats-roles`).
    #[arg(long, value_parser = crate::nats_roles::Role::parse)]
    pub role: Option<crate::nats_roles::Role>,
    /// Managed tablets that start with an empty data directory restore the newest complete
    /// backup of their shard, then catch up by replication (`restore_from_backup` per tablet).
    #[arg(long)]
    pub restore_from_backup: bool,
    /// Run the automatic failover singleton on this node (`on`, the default) or not (`off`);
    /// overrides `[failover] enabled`.
    #[arg(long, value_parser = ["on", "off"])]
    pub failover: Option<String>,
    /// Replace a primary whose health is missing for this long (milliseconds; `[failover]
    /// primary_down_after_ms`).
    #[arg(long)]
    pub primary_down_after_ms: Option<u64>,
}

impl NodeArgs {
    fn into_config(self) -> anyhow::Result<NodeConfig> {
        let mut cfg = match &self.config {
            Some(path) => NodeConfig::from_file(path)?,
            None => NodeConfig::default(),
        };
        if let Some(v) = self.nats {
            cfg.nats = v;
        }
        cfg.nats_auth = self.nats_auth.over(cfg.nats_auth);
        if let Some(v) = self.nats_monitor {
            cfg.nats_monitor = v;
        }
        if let Some(v) = self.cell {
            cfg.cell = v;
        }
        if let Some(v) = self.id {
            cfg.id = Some(v);
        }
        if let Some(v) = self.http {
            cfg.http_addr = v;
        }
        if let Some(v) = self.heartbeat_ms {
            cfg.heartbeat_ms = v;
        }
        if let Some(v) = self.lost_after_ms {
            cfg.lost_after_ms = v;
        }
        if let Some(v) = self.failover {
            cfg.failover.enabled = v == "on";
        }
        if let Some(v) = self.primary_down_after_ms {
            cfg.failover.primary_down_after_ms = v;
        }
        if let Some(v) = self.data_dir {
            cfg.data_dir = v;
        }
        if let Some(v) = self.mysql_template {
            cfg.mysql_template = v;
        }
        cfg.tablets.extend(self.tablets);
        if self.restore_from_backup {
            for t in &mut cfg.tablets {
                t.restore_from_backup = true;
            }
        }
        if let Some(r) = self.role {
            cfg.role = r;
        }
        if self.gateway.is_some() || self.auth.is_some() || self.users_file.is_some() {
            let g = cfg.gateway.get_or_insert_with(Default::default);
            if let Some(v) = self.gateway {
                g.listen = v;
            }
            if let Some(v) = self.auth {
                g.auth = v;
            }
            if let Some(v) = self.users_file {
                g.users_file = v;
            }
        }
        cfg.validate()?;
        Ok(cfg)
    }
}

/// `(major, minor)` of a NATS server version (`2.9.10`, `v2.15.1`).
pub fn nats_version(text: &str) -> Option<(u32, u32)> {
    up_nats::parse_version(text)
}

/// Runs the parsed command; returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Node(args) => {
            crate::runtime::run_node(args.into_config()?)?;
            Ok(0)
        }
        Command::Up(args) => block_on(up::up(args)),
        Command::Down(args) => block_on(up::down(args)),
        Command::Ctl(args) => block_on(ctl::run(args)),
        Command::Events(args) => block_on(events::run(args)),
        Command::NatsRoles(args) => {
            let roles = if args.roles.is_empty() { crate::nats_roles::ALL.to_vec() } else { args.roles };
            let vars: Vec<String> =
                roles.iter().map(|r| format!("$TESSERA_{}_PASSWORD", r.name().to_uppercase())).collect();
            let users: Vec<crate::nats_roles::User<'_>> = roles
                .iter()
                .zip(&vars)
                .map(|(r, v)| crate::nats_roles::User { name: r.name(), password: v, role: *r })
                .collect();
            print!("{}", crate::nats_roles::authorization_block(&users));
            Ok(0)
        }
    }
}

fn block_on<F: std::future::Future<Output = anyhow::Result<i32>>>(f: F) -> anyhow::Result<i32> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?.block_on(f)
}

#[cfg(test)]
mod tests {
    /// clap checks its definitions only when a subcommand is built (in debug builds): this
    /// builds every one, so a bad argument definition fails here, not at a user's prompt.
    #[test]
    fn every_command_line_definition_is_valid() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }

    /// Shard names start with `-` (`-80`), and users type them as Vitess users do.
    #[test]
    fn a_shard_name_that_starts_with_a_dash_is_a_value() {
        use clap::Parser;
        let cli =
            super::Cli::try_parse_from(["tessera", "--log-format", "json", "ctl", "GetTablets", "--shard", "-80"]);
        let cli = cli.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cli.log_format, "json");
        let super::Command::Ctl(args) = cli.command else { panic!("not ctl") };
        assert!(format!("{args:?}").contains("\"-80\""), "{args:?}");
        assert!(super::Cli::try_parse_from(["tessera", "--log-format", "xml", "ctl", "GetNodes"]).is_err());
    }
}

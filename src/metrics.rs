//! This process's Prometheus metrics, served on `/metrics` by the node's HTTP server
//! (`prometheus-client`; the full list with meanings is in docs/METRICS.md). Names follow
//! Prometheus conventions (`tessera_<part>_..._total` counters, `..._seconds` histograms);
//! labels are bounded: keyspaces, shards, tablet aliases, plan shapes, statement kinds, MySQL
//! error numbers, request kinds.

use std::sync::OnceLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatementLabels {
    /// The statement's first keyword, lower case (`select`, `insert`, ... `other`).
    pub kind: &'static str,
    /// How the plan reaches the shards (`single_shard`, `scatter`, `join`, `local`, ...).
    pub plan: &'static str,
    pub keyspace: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PlanLabels {
    pub plan: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrnoLabels {
    pub errno: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TabletLabels {
    pub tablet: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The query-service request (`execute`, `begin_execute`, `commit`, `prepare`, ...).
    pub request: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    /// A cluster event's name (`BackupCompleted`, `ReparentFailed`, ...): a fixed set.
    pub event: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StreamLabels {
    /// `<keyspace>.<workflow>/<target shard><-<source shard>`.
    pub stream: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StreamStateLabels {
    pub stream: String,
    /// `Init`, `Copying`, `Running`, `Stopped`, `Error`.
    pub state: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency() -> Histogram {
    // 100 µs to ~6.5 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 17))
}

/// Every metric of the process.
pub struct Metrics {
    registry: Registry,
    // Gateway.
    pub statements: Family<StatementLabels, Counter>,
    pub statement_seconds: Histograms<PlanLabels>,
    pub errors: Family<ErrnoLabels, Counter>,
    pub sessions: Gauge,
    pub deadlocks: Counter,
    pub distributed_commits: Family<OutcomeLabels, Counter>,
    // The NATS hop, as the gateway sees it.
    pub requests: Histograms<RequestLabels>,
    pub request_timeouts: Counter,
    pub batched_statements: Histogram,
    // Tablets.
    pub tablet_queries: Family<TabletLabels, Counter>,
    pub tablet_query_errors: Family<TabletLabels, Counter>,
    pub tablet_query_seconds: Histograms<TabletLabels>,
    pub tablet_rows: Family<TabletLabels, Counter>,
    pub tablet_pool_wait_seconds: Histograms<TabletLabels>,
    pub tablet_transactions: Family<TabletLabels, Counter>,
    pub tablet_transaction_timeouts: Family<TabletLabels, Counter>,
    pub tablet_open_transactions: Family<TabletLabels, Gauge>,
    pub tablet_serving: Family<TabletLabels, Gauge>,
    pub tablet_replication_lag_seconds: Family<TabletLabels, Gauge>,
    pub tablet_mysqld_restarts: Family<TabletLabels, Counter>,
    // Control plane.
    pub topology_seq: Gauge,
    pub events_relayed: Counter,
    pub nats_reconnects: Counter,
    pub nats_disconnects: Counter,
    pub tablet_writes_held: Family<TabletLabels, Gauge>,
    pub backup_events: Family<EventLabels, Counter>,
    pub recovery_events: Family<EventLabels, Counter>,
    pub vrepl_rows_copied: Family<StreamLabels, Gauge>,
    pub vrepl_rows_per_second: Family<StreamLabels, Gauge>,
    pub vrepl_lag_seconds: Family<StreamLabels, Gauge>,
    pub vrepl_state: Family<StreamStateLabels, Gauge>,
}

impl Metrics {
    fn new() -> Metrics {
        let mut r = Registry::with_prefix("tessera");
        let m = Metrics {
            statements: Family::default(),
            statement_seconds: Family::new_with_constructor(latency),
            errors: Family::default(),
            sessions: Gauge::default(),
            deadlocks: Counter::default(),
            distributed_commits: Family::default(),
            requests: Family::new_with_constructor(latency),
            request_timeouts: Counter::default(),
            batched_statements: Histogram::new(exponential_buckets(1.0, 2.0, 8)),
            tablet_queries: Family::default(),
            tablet_query_errors: Family::default(),
            tablet_query_seconds: Family::new_with_constructor(latency),
            tablet_rows: Family::default(),
            tablet_pool_wait_seconds: Family::new_with_constructor(latency),
            tablet_transactions: Family::default(),
            tablet_transaction_timeouts: Family::default(),
            tablet_open_transactions: Family::default(),
            tablet_serving: Family::default(),
            tablet_replication_lag_seconds: Family::default(),
            tablet_mysqld_restarts: Family::default(),
            topology_seq: Gauge::default(),
            events_relayed: Counter::default(),
            nats_reconnects: Counter::default(),
            nats_disconnects: Counter::default(),
            tablet_writes_held: Family::default(),
            backup_events: Family::default(),
            recovery_events: Family::default(),
            vrepl_rows_copied: Family::default(),
            vrepl_rows_per_second: Family::default(),
            vrepl_lag_seconds: Family::default(),
            vrepl_state: Family::default(),
            registry: Registry::default(),
        };
        r.register("gateway_statements", "Client statements, by kind, plan shape and keyspace", m.statements.clone());
        r.register_with_unit(
            "gateway_statement_duration",
            "Client statements' time in the gateway, by plan shape",
            Unit::Seconds,
            m.statement_seconds.clone(),
        );
        r.register(
            "gateway_errors",
            "Client statements answered with an error, by MySQL error number",
            m.errors.clone(),
        );
        r.register("gateway_sessions", "Client connections open now", m.sessions.clone());
        r.register(
            "gateway_deadlocks_broken",
            "Deadlocks across shards broken by rolling back a transaction",
            m.deadlocks.clone(),
        );
        r.register(
            "gateway_distributed_commits",
            "Two-phase commits, by outcome (committed, rolled_back, unknown)",
            m.distributed_commits.clone(),
        );
        r.register_with_unit(
            "nats_request_duration",
            "Query-service requests from the gateway to tablets over NATS, by request",
            Unit::Seconds,
            m.requests.clone(),
        );
        r.register(
            "nats_request_timeouts",
            "Query-service requests that got no answer in time",
            m.request_timeouts.clone(),
        );
        r.register(
            "nats_batch_statements",
            "Statements per batched request to a busy shard",
            m.batched_statements.clone(),
        );
        r.register("tablet_queries", "Statements a tablet ran on its MySQL", m.tablet_queries.clone());
        r.register("tablet_query_errors", "Statements that failed on a tablet", m.tablet_query_errors.clone());
        r.register_with_unit(
            "tablet_query_duration",
            "Statements' time on a tablet, connection wait included",
            Unit::Seconds,
            m.tablet_query_seconds.clone(),
        );
        r.register("tablet_rows_returned", "Rows tablets returned", m.tablet_rows.clone());
        r.register_with_unit(
            "tablet_pool_wait",
            "Time a request waited for a pooled MySQL connection",
            Unit::Seconds,
            m.tablet_pool_wait_seconds.clone(),
        );
        r.register("tablet_transactions", "Transactions begun on a tablet", m.tablet_transactions.clone());
        r.register(
            "tablet_transaction_timeouts",
            "Transactions rolled back by the tablet after tx_timeout_ms",
            m.tablet_transaction_timeouts.clone(),
        );
        r.register("tablet_open_transactions", "Transactions open on a tablet now", m.tablet_open_transactions.clone());
        r.register("tablet_serving", "1 while the tablet serves queries", m.tablet_serving.clone());
        r.register(
            "tablet_replication_lag_seconds",
            "Seconds a replica is behind its primary (Seconds_Behind_Master)",
            m.tablet_replication_lag_seconds.clone(),
        );
        r.register("tablet_mysqld_restarts", "Times a tablet restarted its mysqld", m.tablet_mysqld_restarts.clone());
        r.register("topology_sequence", "The topology stream sequence this node has folded", m.topology_seq.clone());
        r.register(
            "topology_events_relayed",
            "Topology commits' events this node published as cluster events",
            m.events_relayed.clone(),
        );
        r.register("nats_reconnects", "Times the NATS connection came back after a loss", m.nats_reconnects.clone());
        r.register("nats_disconnects", "Times the NATS connection was lost", m.nats_disconnects.clone());
        r.register(
            "tablet_writes_held",
            "1 while a tablet holds writes (a reparent or traffic switch in progress)",
            m.tablet_writes_held.clone(),
        );
        r.register(
            "backup_events",
            "Backup and restore events this node published, by event (BackupCompleted, BackupFailed, ...)",
            m.backup_events.clone(),
        );
        r.register(
            "recovery_events",
            "Reparent and failover events this node published, by event (ReparentCompleted, PrimaryDown, ...)",
            m.recovery_events.clone(),
        );
        r.register(
            "vreplication_rows_copied",
            "Rows a VReplication stream's copy wrote to its target",
            m.vrepl_rows_copied.clone(),
        );
        r.register(
            "vreplication_copy_rows_per_second",
            "A stream's copy rate (source rows read per second, over the last ~12 s)",
            m.vrepl_rows_per_second.clone(),
        );
        r.register(
            "vreplication_lag_seconds",
            "How far a replicating stream is behind its source",
            m.vrepl_lag_seconds.clone(),
        );
        r.register("vreplication_stream_state", "1 for each stream's current state", m.vrepl_state.clone());
        Metrics { registry: r, ..m }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// Counts a cluster event of a fixed set of names (others are not counted).
    pub fn count_event(family: &Family<EventLabels, Counter>, names: &[&'static str], name: &str) {
        if let Some(event) = names.iter().find(|n| **n == name) {
            family.get_or_create(&EventLabels { event }).inc();
        }
    }

    pub fn tablet(alias: &str) -> TabletLabels {
        TabletLabels { tablet: alias.to_string() }
    }
}

/// One tablet's metrics, looked up once (a request then touches no map and allocates nothing).
#[derive(Clone)]
pub struct TabletHandles {
    pub queries: Counter,
    pub errors: Counter,
    pub seconds: Histogram,
    pub rows: Counter,
    pub pool_wait: Histogram,
    pub transactions: Counter,
    pub timeouts: Counter,
    pub open_transactions: Gauge,
    pub serving: Gauge,
    pub lag_seconds: Gauge,
    pub mysqld_restarts: Counter,
}

impl TabletHandles {
    pub fn new(alias: &str) -> TabletHandles {
        let m = metrics();
        let l = Metrics::tablet(alias);
        TabletHandles {
            queries: m.tablet_queries.get_or_create(&l).clone(),
            errors: m.tablet_query_errors.get_or_create(&l).clone(),
            seconds: m.tablet_query_seconds.get_or_create(&l).clone(),
            rows: m.tablet_rows.get_or_create(&l).clone(),
            pool_wait: m.tablet_pool_wait_seconds.get_or_create(&l).clone(),
            transactions: m.tablet_transactions.get_or_create(&l).clone(),
            timeouts: m.tablet_transaction_timeouts.get_or_create(&l).clone(),
            open_transactions: m.tablet_open_transactions.get_or_create(&l).clone(),
            serving: m.tablet_serving.get_or_create(&l).clone(),
            lag_seconds: m.tablet_replication_lag_seconds.get_or_create(&l).clone(),
            mysqld_restarts: m.tablet_mysqld_restarts.get_or_create(&l).clone(),
        }
    }
}

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// A statement's kind label from its first keyword.
pub fn statement_kind(first_keyword: &str) -> &'static str {
    const KINDS: [&str; 18] = [
        "select",
        "insert",
        "update",
        "delete",
        "replace",
        "begin",
        "start",
        "commit",
        "rollback",
        "set",
        "use",
        "show",
        "create",
        "alter",
        "drop",
        "savepoint",
        "release",
        "explain",
    ];
    KINDS.iter().find(|k| first_keyword.eq_ignore_ascii_case(k)).copied().unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_parses_and_counts() {
        let m = metrics();
        let labels = StatementLabels { kind: "select", plan: "scatter", keyspace: "ks".into() };
        m.statements.get_or_create(&labels).inc_by(3);
        m.statement_seconds.get_or_create(&PlanLabels { plan: "scatter" }).observe(0.002);
        let text = m.render();
        let lines = text.lines().map(|l| Ok(l.to_string()));
        let scrape = prometheus_parse::Scrape::parse(lines).unwrap_or_else(|e| panic!("{e}: {text}"));
        let counted = scrape
            .samples
            .iter()
            .find(|s| s.metric == "tessera_gateway_statements_total" && s.labels.get("plan") == Some("scatter"))
            .map(|s| s.value.clone());
        // OpenMetrics names the family `..._statements` and its sample `..._statements_total`,
        // which this parser reads as untyped.
        let counted = match counted {
            Some(prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v)) => v,
            other => panic!("{other:?}: {text}"),
        };
        assert!(counted >= 3.0, "{text}");
        assert_eq!(statement_kind("SELECT"), "select");
        assert_eq!(statement_kind("WITH"), "other");
    }

    /// Every `tessera_...` name in `text`, without the sample suffixes of counters and
    /// histograms.
    fn names_in(text: &str) -> std::collections::BTreeSet<String> {
        let mut out = std::collections::BTreeSet::new();
        for (i, _) in text.match_indices("tessera_") {
            let name: String =
                text[i..].chars().take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_').collect();
            let base = ["_total", "_bucket", "_count", "_sum"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .unwrap_or(&name)
                .to_string();
            out.insert(base);
        }
        out
    }

    #[test]
    fn the_dashboard_and_the_docs_name_only_real_metrics() {
        // What the registry registers (a family without samples is not rendered).
        let source = include_str!("metrics.rs");
        let mut exposed = std::collections::BTreeSet::new();
        for (call, suffix) in [("r.register(", ""), ("r.register_with_unit(", "_seconds")] {
            for (i, _) in source.match_indices(call) {
                let rest = source[i + call.len()..].trim_start();
                let name = rest.strip_prefix('"').and_then(|r| r.split('"').next());
                if let Some(name) =
                    name.filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
                {
                    exposed.insert(format!("tessera_{name}{suffix}"));
                }
            }
        }
        assert!(exposed.len() > 30, "{exposed:?}");
        for (file, text) in [
            ("config/grafana-dashboard.json", include_str!("../config/grafana-dashboard.json")),
            ("docs/METRICS.md", include_str!("../docs/METRICS.md")),
        ] {
            let named = names_in(text);
            let unknown: Vec<&String> = named.iter().filter(|n| !exposed.contains(*n) && n.len() > 8).collect();
            assert!(unknown.is_empty(), "{file} names metrics /metrics lacks: {unknown:?}");
        }
        // And the docs list every metric.
        let documented = names_in(include_str!("../docs/METRICS.md"));
        let undocumented: Vec<&String> = exposed.iter().filter(|n| !documented.contains(*n)).collect();
        assert!(undocumented.is_empty(), "docs/METRICS.md lacks {undocumented:?}");
    }
}

//! Wiring a node process: NATS, the topology view, the actors, the web server, signals.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use tracing::{error, info, warn};

use crate::actors::admin::AdminActor;
use crate::actors::health::HealthActor;
use crate::actors::node::{Leave, NodeActor};
use crate::actors::tablet::{StopTablet, TabletActor};
use crate::admin::AdminService;
use crate::config::NodeConfig;
use crate::nats_roles::Role;
use crate::protocol::envelope::now_ms;
use crate::protocol::node::NodeInfo;
use crate::protocol::subjects;
use crate::topo::store::TopoStore;
use crate::topo::view::TopoView;
use crate::topo::writer::TopoWriter;
use crate::web::{self, WebState};

/// Runs a node until SIGINT/SIGTERM. Blocks the calling thread.
///
/// The node runs on a thread of its own and on runtime workers that all have
/// [`STACK_SIZE`](crate::sql::parse::STACK_SIZE) of stack: statements nest as deep as
/// [`MAX_DEPTH`](crate::sql::parse::MAX_DEPTH) allows, and walking them must never overflow.
pub fn run_node(config: NodeConfig) -> anyhow::Result<()> {
    let stack = crate::sql::parse::STACK_SIZE;
    std::thread::Builder::new()
        .name("tessera-node".into())
        .stack_size(stack)
        .spawn(move || run_node_here(config))
        .map_err(|e| anyhow::anyhow!("cannot start the node thread: {e}"))?
        .join()
        .map_err(|_| anyhow::anyhow!("the node thread panicked"))?
}

fn run_node_here(mut config: NodeConfig) -> anyhow::Result<()> {
    config.validate()?;
    // Worker threads of the node's runtime: TESSERA_WORKER_THREADS, else one per core.
    let workers = std::env::var("TESSERA_WORKER_THREADS").ok().and_then(|v| v.parse::<usize>().ok()).filter(|n| *n > 0);
    let system = System::with_tokio_rt(move || {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        if let Some(n) = workers {
            b.worker_threads(n);
        }
        b.enable_all()
            .thread_stack_size(crate::sql::parse::STACK_SIZE)
            .thread_name("tessera-worker")
            .build()
            .unwrap_or_else(|e| panic!("cannot start the tokio runtime: {e}"))
    });
    let result = system.block_on(async move { serve(config).await });
    if let Err(e) = &result {
        error!(error = %e, "node stopped with an error");
    }
    result
}

/// The cluster's MariaDB users for managed tablets (see [`crate::secrets`]), retried until
/// NATS has them; a node that cached them starts with those when NATS cannot answer yet.
async fn cluster_mysql_users(
    config: &NodeConfig,
    store: &TopoStore,
    replicas: usize,
) -> crate::mysqld::users::MysqlCredentials {
    let version = store.jetstream().client().server_info().version;
    // Created once, never changed after: one copy where NATS cannot check a create (see
    // `needs_whole_stream_cas`), so two nodes never both make them.
    let replicas = if crate::topo::store::needs_whole_stream_cas(&version, replicas) { 1 } else { replicas };
    let dir = std::path::Path::new(&config.data_dir);
    let mut attempts = 0;
    loop {
        match crate::secrets::mysql_credentials(store.jetstream(), replicas, dir).await {
            Ok(c) => return c,
            Err(e) => {
                attempts += 1;
                if let Some(c) = crate::secrets::cached(dir).filter(|_| attempts >= 3) {
                    warn!(error = %e, "cannot read the cluster's MariaDB credentials from NATS; using this node's cached copy");
                    return c;
                }
                warn!(error = %e, "cannot read the cluster's MariaDB credentials yet; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Claims this node's id and tablet aliases (see [`crate::lease`]) before it serves anything,
/// and keeps them renewed; a name another live process holds stops this one with its holder.
/// The cluster's backup scheduler, run by whichever node holds its lease (when the config has
/// a schedule or a retention policy).
async fn start_backup_scheduler(
    config: &NodeConfig,
    id: &str,
    store: &TopoStore,
    storage: crate::backup::SharedStorage,
    client: async_nats::Client,
    replicas: usize,
    view: TopoView,
) {
    if let Some(lease) = singleton(config, id, store, replicas, "backup-scheduler").await {
        crate::backup::scheduler::spawn(config.backup.clone(), storage, view, client, store.clone(), lease);
    }
}

/// The resolver of distributed transactions, run by whichever node holds its lease.
async fn start_resolver(
    config: &NodeConfig,
    id: &str,
    store: &TopoStore,
    client: async_nats::Client,
    log: std::sync::Arc<crate::twopc::log::KvTxLog>,
    view: TopoView,
    replicas: usize,
) {
    if let Some(lease) = singleton(config, id, store, replicas, "twopc-resolver").await {
        let tc = crate::backend::TabletClient::new(client, format!("resolver@{id}"), Duration::from_secs(10));
        crate::twopc::resolver::spawn(
            config.twopc.clone(),
            view,
            std::sync::Arc::new(tc),
            log,
            store.clone(),
            lease,
            id.to_string(),
        );
    }
}

/// A cluster-wide singleton's lease (the backup scheduler, the failover watcher), or none
/// when the lease bucket cannot be opened (logged: that singleton does not run on this node).
async fn singleton(
    config: &NodeConfig,
    id: &str,
    store: &TopoStore,
    replicas: usize,
    name: &str,
) -> Option<crate::lease::Singleton> {
    let version = store.jetstream().client().server_info().version;
    let replicas = if crate::topo::store::needs_whole_stream_cas(&version, replicas) { 1 } else { replicas };
    match crate::lease::open(store.jetstream(), replicas, false).await {
        Ok(kv) => {
            let me = crate::lease::Holder::this_process(id, &config.data_dir);
            Some(crate::lease::Singleton::new(kv, name, me))
        }
        Err(e) => {
            warn!(error = %e, singleton = name, "cannot open the lease bucket; this singleton does not run on this node");
            None
        }
    }
}

async fn claim_leases(config: &NodeConfig, id: &str, store: &TopoStore, replicas: usize) -> anyhow::Result<()> {
    use crate::lease::{Holder, LeaseError, Leases};
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| anyhow::anyhow!("cannot create the data dir {}: {e}", config.data_dir))?;
    // A lease is claimed and renewed by per-subject expected sequences, which NATS before 2.10
    // does not enforce on replicated streams: there the lease bucket keeps one copy (a lease
    // lives 15 s; a lost server costs a re-claim, never two owners).
    let version = store.jetstream().client().server_info().version;
    let replicas = if crate::topo::store::needs_whole_stream_cas(&version, replicas) { 1 } else { replicas };
    let kv = loop {
        match crate::lease::open(store.jetstream(), replicas, config.role == Role::Node).await {
            Ok(kv) => break kv,
            Err(e) => {
                warn!(error = %e, "lease bucket not ready; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    let mut leases = Leases::new(kv, Holder::this_process(id, &config.data_dir));
    let mut names = vec![(crate::lease::key("node", id), format!("node id {id}"))];
    names.extend(config.tablets.iter().map(|t| (crate::lease::key("tablet", &t.alias), format!("tablet {}", t.alias))));
    for (key, what) in names {
        loop {
            match leases.claim(&key, &what).await {
                Ok(()) => break,
                Err(e @ LeaseError::Held { .. }) => anyhow::bail!("{e}"),
                Err(e) => {
                    warn!(error = %e, "cannot claim a lease yet; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
    info!(holder = %leases.holder(), "leases held");
    leases.renew_forever();
    Ok(())
}

async fn serve(mut config: NodeConfig) -> anyhow::Result<()> {
    let id = config.node_id();
    let started = Instant::now();
    let (client, reconnects) =
        crate::nats::connect_with_retry(&config.nats, &format!("tessera-node-{id}"), &config.nats_auth, config.role)
            .await?;
    // A gateway-only node reads the control plane and never changes it: no stream creation or
    // resize, no admin commands, no event relay, no VReplication (its NATS role allows none).
    let core = config.role == Role::Node;

    {
        let (client, monitors) = (client.clone(), config.nats_monitor.clone());
        tokio::spawn(async move { crate::nats::check_durability(&client, &monitors).await });
    }
    let replicas = crate::nats::stream_replicas(&client, config.stream_replicas);
    let store = loop {
        let opened = if core {
            TopoStore::open_with_replicas(client.clone(), id.clone(), replicas).await
        } else {
            TopoStore::open(client.clone(), id.clone()).await
        };
        match opened {
            Ok(s) => break s,
            Err(e) => {
                warn!(error = %e, "JetStream not ready (a gateway node waits for a node to create the streams); retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    claim_leases(&config, &id, &store, replicas).await?;
    let mut backup_storage = None;
    if core {
        let users = cluster_mysql_users(&config, &store, replicas).await;
        for t in config.tablets.iter_mut().filter(|t| t.is_managed()) {
            t.cluster_users = Some(users.clone());
        }
        let js = async_nats::jetstream::new(client.clone());
        let backups = config.backup.open(&config.data_dir, Some((&js, replicas)));
        if let Err(e) = &backups {
            warn!(error = %e, "no backup storage: backups and restores will be refused");
        }
        backup_storage = Some(backups.clone());
        for t in config.tablets.iter_mut() {
            t.backup = Some(backups.clone());
        }
        config.vreplication.managed = Some(users.vrepl.clone());
    }
    let view = TopoView::default();
    let relay = core.then(|| crate::topo::relay::spawn_event_relay(store.clone()));
    tokio::spawn(view.clone().follow(store.clone(), Some(reconnects), relay));
    if let Some(Ok(storage)) = &backup_storage {
        start_backup_scheduler(&config, &id, &store, storage.clone(), client.clone(), replicas, view.clone()).await;
    }

    let mut hosts = if core { vec!["admin".to_string()] } else { Vec::new() };
    if !config.http_addr.is_empty() {
        hosts.push("web".into());
    }
    hosts.extend(config.tablets.iter().map(|t| format!("tablet:{}", t.alias)));
    if let Some(g) = &config.gateway {
        hosts.push(format!("gateway:{}", g.listen));
    }
    let mut info = NodeInfo {
        id: id.clone(),
        incarnation: uuid::Uuid::new_v4().simple().to_string(),
        cell: config.cell.clone(),
        host: crate::config::hostname(),
        pid: std::process::id(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        hosts,
        http_addr: String::new(),
        started_ms: now_ms(),
    };

    let ready = Arc::new(AtomicBool::new(false));
    if !config.http_addr.is_empty() {
        let state = WebState {
            node: info.clone(),
            client: client.clone(),
            view: view.clone(),
            ready: ready.clone(),
            started,
            store: Some(store.clone()),
        };
        let bound = web::start(&config.http_addr, state).map_err(|e| {
            anyhow::anyhow!("cannot serve HTTP on {}: {e} (is the port in use? pass --http)", config.http_addr)
        })?;
        info.http_addr = bound.to_string();
        info!(addr = %bound, "HTTP status server listening");
    }

    // Replay the topology before serving, so the first answer is already current.
    let last = loop {
        match store.last_seq().await {
            Ok(l) => break l,
            Err(e) => {
                warn!(error = %e, "cannot read the topology stream yet; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    while view.wait_for(last, Duration::from_secs(10)).await.is_err() {
        warn!(target = last, at = view.seq(), "still replaying the topology");
    }
    info!(seq = view.seq(), "topology replayed");

    let node_sub = client.subscribe(subjects::node_all()).await?;
    let node = NodeActor::new(
        info.clone(),
        client.clone(),
        store.clone(),
        view.clone(),
        node_sub,
        config.heartbeat(),
        config.lost_after(),
    )
    .start();

    let health = HealthActor::new(client.subscribe(subjects::health_all()).await?).start();
    let writer = TopoWriter::new(store.clone(), view.clone());
    let bulk = crate::bulk::Bulk::start(client.clone(), &id).await?;
    let lane_nats = crate::lanes::LaneNats {
        url: config.nats.clone(),
        name: format!("tessera-node-{id}"),
        auth: config.nats_auth.clone(),
        role: config.role,
    };
    let tablet_lanes = crate::actors::tablet::lanes::configured(config.tablet_lanes);
    if tablet_lanes > 0 && !config.tablets.is_empty() {
        crate::actors::tablet::lanes::install(
            crate::lanes::start(tablet_lanes, crate::lanes::LaneKind::Tablet, lane_nats.clone()).await?,
        );
    }
    let mut tablets = Vec::new();
    for t in &config.tablets {
        // With tablet lanes, the lanes serve the alias subject in a queue group instead.
        let query_sub = if crate::actors::tablet::lanes::lanes().is_empty() {
            Some(client.subscribe(subjects::tablet(&t.alias, "query")).await?)
        } else {
            None
        };
        let manage_sub = client.subscribe(subjects::tablet(&t.alias, "manage")).await?;
        let kill_sub = client.subscribe(subjects::kill(&t.keyspace, &t.shard)).await?;
        let actor = TabletActor::new(
            t.clone(),
            id.clone(),
            client.clone(),
            writer.clone(),
            std::path::PathBuf::from(&config.data_dir),
            config.template_dir(),
            crate::actors::tablet::TabletNats {
                query: query_sub,
                manage: manage_sub,
                kill: kill_sub,
                bulk: bulk.clone(),
            },
        );
        info!(tablet = %t.alias, keyspace = %t.keyspace, shard = %t.shard, managed = t.is_managed(), "starting tablet");
        tablets.push(actor.start());
    }
    let mut gateway = None;
    if let Some(g) = &config.gateway {
        let auth = g.auth()?;
        let listener = std::net::TcpListener::bind(&g.listen).map_err(|e| {
            anyhow::anyhow!("cannot serve MySQL on {}: {e} (is the port in use? pass --gateway)", g.listen)
        })?;
        info!(addr = %g.listen, auth = %g.auth, "MySQL gateway listening");
        let health_addr = health.clone();
        let txlog: std::sync::Arc<dyn crate::twopc::TxLog> =
            std::sync::Arc::new(crate::twopc::log::KvTxLog::new(store.jetstream(), replicas));
        // The gateway's tablet client over a NATS connection (the node's, or a lane's).
        let tablet_client_on = {
            let (bulk, id, timeout) = (bulk.clone(), id.clone(), Duration::from_millis(g.query_timeout_ms));
            move |client: async_nats::Client| -> crate::engine::shards::ShardsRef {
                std::sync::Arc::new(
                    crate::backend::TabletClient::new(client, format!("gateway@{id}"), timeout)
                        .with_bulk(bulk.clone())
                        .with_txlog(txlog.clone(), &id),
                )
            }
        };
        let tablet_client = tablet_client_on(client.clone());
        let services = crate::frontend::execute::Services {
            router: crate::routing::Router::new(view.clone()),
            tablets: tablet_client.clone(),
            transaction_mode: g.transaction_mode()?,
            max_rows: g.max_rows,
            hold_writes: Duration::from_millis(g.hold_writes_ms),
            plans: std::sync::Arc::new(crate::planner::cache::PlanCache::new(g.plan_cache_size)),
            sessions: crate::frontend::sessions::Sessions::new(matches!(auth, crate::frontend::conn::Auth::None)),
            acl: if g.table_acl_file.is_empty() {
                crate::frontend::acl::AclSource::none()
            } else {
                crate::frontend::acl::AclSource::from_file(&g.table_acl_file, g.table_acl_strict)
                    .map_err(anyhow::Error::msg)?
            },
            identity: std::sync::Arc::new(
                crate::frontend::identity::IdentitySource::new(&g.server_version)
                    .with_endpoint(listener.local_addr().map(|a| a.port()).unwrap_or(0), &g.socket),
            ),
            health: std::sync::Arc::new(move || {
                let h = health_addr.clone();
                Box::pin(async move { h.send(crate::actors::health::GetHealth).await.unwrap_or_default() })
            }),
        };
        let cfg = crate::frontend::conn::ConnConfig {
            auth,
            max_allowed_packet: g.max_allowed_packet,
            default_plugin: g.default_plugin()?,
            tls: g.tls()?,
            tls_required: g.tls_required,
            max_connections: g.max_connections,
            max_user_connections: g.max_user_connections,
            limits: Default::default(),
            throttle: Default::default(),
            connect_timeout: Duration::from_millis(g.connect_timeout_ms),
        };
        let socket = if g.socket.is_empty() {
            None
        } else {
            let _ = std::fs::remove_file(&g.socket);
            let l = std::os::unix::net::UnixListener::bind(&g.socket)
                .map_err(|e| anyhow::anyhow!("cannot serve MySQL on unix socket {}: {e}", g.socket))?;
            info!(socket = %g.socket, "MySQL gateway listening on a unix socket");
            Some(l)
        };
        let sessions = services.sessions.clone();
        crate::frontend::querylog::hub().set_slow(Duration::from_millis(g.slow_query_ms));
        crate::twopc::deadlock::spawn(
            sessions.clone(),
            tablet_client,
            Duration::from_millis(g.deadlock_detect_after_ms),
        );
        let lanes = match crate::frontend::lanes::configured(g.lanes) {
            0 => vec![crate::frontend::lanes::Lane { runtime: tokio::runtime::Handle::current(), services }],
            n => {
                crate::frontend::lanes::start(n, lane_nats.clone(), move |client| crate::frontend::execute::Services {
                    tablets: tablet_client_on(client),
                    ..services.clone()
                })
                .await?
            }
        };
        let addr = crate::actors::gateway::GatewayActor::new(listener, socket, cfg, lanes).start();
        gateway = Some((addr, sessions, Duration::from_millis(g.drain_ms)));
    }
    if core {
        crate::actors::vrepl_engine::VReplicationEngine::new(
            id.clone(),
            config.tablets.clone(),
            config.vreplication.clone(),
            client.clone(),
            store.clone(),
            view.clone(),
        )
        .start();
        let service = AdminService::new(writer, Some(node.clone().recipient()))
            .with_tablets(client.clone(), id.clone(), health.clone().recipient())
            .with_workflows(client.clone(), config.vreplication.clone())
            .with_backups(backup_storage.clone().unwrap_or_else(|| Err("this node has no backup storage".into())));
        if config.failover.enabled {
            if let Some(lease) = singleton(&config, &id, &store, replicas, "failover").await {
                crate::reparent::failover::spawn(
                    config.failover.clone(),
                    view.clone(),
                    health.clone().recipient(),
                    service.clone(),
                    store.clone(),
                    lease,
                );
            }
        }
        let txlog = std::sync::Arc::new(crate::twopc::log::KvTxLog::new(store.jetstream(), replicas));
        if let Err(e) = txlog.store().await {
            warn!(error = %e, "cannot open the transaction log yet; it is opened when first used");
        }
        let service = service.with_txlog(txlog.clone());
        if config.twopc.resolver {
            start_resolver(&config, &id, &store, client.clone(), txlog, view.clone(), replicas).await;
        }
        let admin_sub = client.queue_subscribe(subjects::admin_all(), subjects::ADMIN_QUEUE.to_string()).await?;
        AdminActor::new(service, client.clone(), id.clone(), admin_sub).start();
    }
    // Ready means answering: the subscriptions must have reached the server before /healthz
    // says so (a client that sees `ok` and sends an admin command at once gets an answer).
    if let Err(e) = client.flush().await {
        warn!(error = %e, "flushing the subscriptions to NATS");
    }
    ready.store(true, Ordering::Relaxed);
    info!(node = %id, cell = %config.cell, nats = %config.nats, "node ready");

    let reason = wait_for_signal().await;
    info!(reason, "shutting down");
    if let Some((addr, sessions, grace)) = gateway {
        // Drain: no new clients; idle sessions close now (transactions rolled back on their
        // tablets), running statements get `grace` to finish. Then the tablets stop.
        let _ = addr.send(crate::actors::gateway::StopAccepting).await;
        let left = sessions.drain(grace).await;
        info!(left, "gateway sessions drained");
    }
    futures::future::join_all(tablets.iter().map(|t| t.send(StopTablet))).await;
    if node.send(Leave { reason: reason.to_string() }).await.is_err() {
        warn!("node actor was gone before it could announce leaving");
    }
    System::current().stop();
    Ok(())
}

async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        // Without signal handlers the node can still be stopped by SIGKILL; wait forever.
        futures::future::pending::<()>().await;
        return "never";
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

//! `VReplicationActor`: one stream (a target shard's primary pulling from one source shard).
//!
//! It runs [`crate::vrepl::stream::run`] on its own task, restarts it with backoff after
//! retryable errors (a source or target MySQL went away), records errors in the target's
//! `_tessera.vreplication`, answers control requests on its subject
//! (`tessera.vrepl.<ks>.<workflow>.<target>.<source>`: status, stop, start with a stop
//! position) and publishes its state changes and progress as cluster events.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::protocol::events::ClusterEvent;
use crate::protocol::workflow::{StreamControl, StreamStatus};
use crate::rpc::exchanges::Stream as StreamRpc;
use crate::topo::store::TopoStore;
use crate::vrepl::replay::Shared;

/// Status samples (one per 3 s) over which the copy rate is measured.
const RATE_WINDOW: usize = 5;
use crate::vrepl::stream::{self, Outcome};
use crate::vrepl::{StreamSpec, VReplError};

/// Whether the stream should run (from the workflow's state in the topology).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetRun(pub bool);

/// Stops the stream and the actor (workflow gone or moved).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;

#[derive(Message)]
#[rtype(result = "()")]
struct RunEnded {
    generation: u64,
    result: Result<Outcome, VReplError>,
}

pub struct VReplicationActor {
    pub spec: StreamSpec,
    client: async_nats::Client,
    store: TopoStore,
    shared: Shared,
    want_run: bool,
    stop_tx: Option<watch::Sender<bool>>,
    task: Option<tokio::task::JoinHandle<()>>,
    generation: u64,
    failures: u32,
    sub: Option<async_nats::Subscriber>,
    announced: (String, u64),
    events: u64,
    /// (when, rows scanned then): the copy rate is measured between ticks.
    /// Copy progress samples for rows/s, one per status interval.
    rate_samples: std::collections::VecDeque<(std::time::Instant, u64)>,
    /// The state last exported to `/metrics`.
    metric_state: String,
}

impl VReplicationActor {
    pub fn new(
        spec: StreamSpec,
        client: async_nats::Client,
        store: TopoStore,
        sub: async_nats::Subscriber,
        want_run: bool,
    ) -> Self {
        let status = StreamStatus {
            keyspace: spec.key.keyspace.clone(),
            workflow: spec.key.workflow.clone(),
            target_shard: spec.key.target_shard.clone(),
            source_shard: spec.key.source_shard.clone(),
            state: "Init".into(),
            ..Default::default()
        };
        VReplicationActor {
            spec,
            client,
            store,
            shared: Arc::new(Mutex::new(status)),
            want_run,
            stop_tx: None,
            task: None,
            generation: 0,
            failures: 0,
            sub: Some(sub),
            announced: (String::new(), 0),
            events: 0,
            rate_samples: std::collections::VecDeque::with_capacity(RATE_WINDOW + 1),
            metric_state: String::new(),
        }
    }

    /// The copy rate over the last [`RATE_WINDOW`] samples (a chunk commits every few
    /// seconds on a slow copy, so one interval alone often reads 0); 0 once not copying.
    fn measure_rate(&mut self) {
        let now = std::time::Instant::now();
        let shared = self.shared.clone();
        let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
        if s.state != "Copying" {
            s.rows_per_sec = 0.0;
            self.rate_samples.clear();
            self.export_metrics(&s);
            return;
        }
        self.rate_samples.push_back((now, s.rows_scanned));
        while self.rate_samples.len() > RATE_WINDOW {
            self.rate_samples.pop_front();
        }
        if let (Some((t0, r0)), Some((t1, r1))) = (self.rate_samples.front(), self.rate_samples.back()) {
            let secs = t1.duration_since(*t0).as_secs_f64();
            if secs > 0.0 {
                s.rows_per_sec = r1.saturating_sub(*r0) as f64 / secs;
            }
        }
        self.export_metrics(&s);
    }

    /// The stream's gauges on `/metrics` (its state as the one label set at 1).
    fn export_metrics(&mut self, s: &StreamStatus) {
        use crate::metrics::{metrics, StreamLabels, StreamStateLabels};
        let m = metrics();
        let stream = StreamLabels { stream: self.spec.key.to_string() };
        m.vrepl_rows_copied.get_or_create(&stream).set(i64::try_from(s.rows_copied).unwrap_or(i64::MAX));
        m.vrepl_rows_per_second.get_or_create(&stream).set(s.rows_per_sec as i64);
        m.vrepl_lag_seconds.get_or_create(&stream).set(s.lag_secs as i64);
        if self.metric_state != s.state {
            let old =
                StreamStateLabels { stream: stream.stream.clone(), state: std::mem::take(&mut self.metric_state) };
            m.vrepl_state.remove(&old);
            self.metric_state = s.state.clone();
        }
        // Set on every tick: an earlier actor of this stream, stopping late after a restart on
        // this node, may have removed the series.
        m.vrepl_state.get_or_create(&StreamStateLabels { stream: stream.stream, state: s.state.clone() }).set(1);
    }

    fn status(&self) -> StreamStatus {
        self.shared.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn start_run(&mut self, ctx: &mut Context<Self>) {
        if self.task.is_some() {
            return;
        }
        self.generation += 1;
        let generation = self.generation;
        let (tx, mut rx) = watch::channel(false);
        self.stop_tx = Some(tx);
        let spec = self.spec.clone();
        let shared = self.shared.clone();
        let addr = ctx.address();
        info!(stream = %spec.key, "stream starting");
        self.task = Some(tokio::spawn(async move {
            let result = stream::run(&spec, &shared, &mut rx).await;
            addr.do_send(RunEnded { generation, result });
        }));
    }

    /// Signals the run to stop and returns its task to wait on.
    fn stop_run(&mut self) -> Option<tokio::task::JoinHandle<()>> {
        if let Some(tx) = self.stop_tx.take() {
            let _ = tx.send(true);
        }
        self.task.take()
    }

    fn publish(&mut self, force: bool) {
        let status = self.status();
        let changed = status.state != self.announced.0 || force;
        let progressed = status.updated_ms != self.announced.1;
        if !changed && !progressed {
            return;
        }
        self.announced = (status.state.clone(), status.updated_ms);
        self.events += 1;
        let name = if changed { "StreamStateChanged" } else { "StreamProgress" };
        let ev = ClusterEvent::stream(name, &status);
        let id = format!("vrepl-{}-{}-{}", self.spec.key, self.generation, self.events).replace(' ', "");
        let store = self.store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.publish_event(&ev, &id).await {
                warn!(error = %e, "could not publish a stream event");
            }
        });
    }
}

impl Actor for VReplicationActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if let Some(sub) = self.sub.take() {
            ctx.add_stream(sub);
        }
        if self.want_run {
            self.start_run(ctx);
        }
        ctx.run_interval(Duration::from_secs(3), |act, _| {
            act.measure_rate();
            act.publish(false);
        });
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        // Its series leave /metrics with it.
        let m = crate::metrics::metrics();
        let stream = crate::metrics::StreamLabels { stream: self.spec.key.to_string() };
        m.vrepl_rows_copied.remove(&stream);
        m.vrepl_rows_per_second.remove(&stream);
        m.vrepl_lag_seconds.remove(&stream);
        let state = std::mem::take(&mut self.metric_state);
        m.vrepl_state.remove(&crate::metrics::StreamStateLabels { stream: stream.stream, state });
        if let Some(t) = self.stop_run() {
            // The run notices the stop signal; abort in case it is stuck in a connect.
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(5)).await;
                t.abort();
            });
        }
    }
}

impl Handler<SetRun> for VReplicationActor {
    type Result = ();

    fn handle(&mut self, msg: SetRun, ctx: &mut Self::Context) {
        if msg.0 == self.want_run {
            return;
        }
        self.want_run = msg.0;
        if msg.0 {
            self.failures = 0;
            self.start_run(ctx);
        } else {
            let stopped = record_stopped(
                self.stop_run(),
                self.spec.clone(),
                self.shared.clone(),
                "workflow stopped (Workflow start runs it again)",
            );
            ctx.wait(stopped.into_actor(self).map(|_, act, _| act.publish(true)));
        }
    }
}

impl Handler<Shutdown> for VReplicationActor {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Self::Context) {
        self.want_run = false;
        let task = self.stop_run();
        ctx.wait(
            async move {
                if let Some(t) = task {
                    let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
                }
            }
            .into_actor(self)
            .map(|_, _, ctx| ctx.stop()),
        );
    }
}

impl Handler<RunEnded> for VReplicationActor {
    type Result = ();

    fn handle(&mut self, msg: RunEnded, ctx: &mut Self::Context) {
        if msg.generation != self.generation {
            return;
        }
        self.task = None;
        self.stop_tx = None;
        match msg.result {
            Ok(outcome) => {
                self.failures = 0;
                info!(stream = %self.spec.key, ?outcome, "stream stopped");
                if let Outcome::ReachedStopPos(_) = outcome {
                    self.want_run = false;
                }
            }
            Err(e) => {
                self.failures += 1;
                let retry = e.retryable();
                let message = e.to_string();
                warn!(stream = %self.spec.key, error = %message, retry, "stream failed");
                crate::vrepl::replay::update(&self.shared, |s| {
                    s.state = "Error".into();
                    s.message = message.clone();
                });
                let (spec, state_msg) = (self.spec.clone(), message);
                tokio::spawn(async move {
                    if let Ok(mut c) = spec.target.connect().await {
                        let _ = stream::set_state(&mut c, &stream::row_key(&spec), "Error", &state_msg).await;
                    }
                });
                if retry && self.want_run {
                    let delay = Duration::from_secs(1 << self.failures.min(5));
                    ctx.run_later(delay, |act, ctx| {
                        if act.want_run {
                            act.start_run(ctx);
                        }
                    });
                }
            }
        }
        // Only a change of state is news here: a stop by request announced itself already
        // (announcing again printed every stream-stopped event twice in `tessera events`).
        self.publish(false);
    }
}

impl StreamHandler<async_nats::Message> for VReplicationActor {
    fn handle(&mut self, msg: async_nats::Message, ctx: &mut Self::Context) {
        let sender = self.spec.key.to_string();
        let Some((req, replier)) = crate::rpc::receive_now::<StreamRpc>(&self.client, &sender, &msg) else { return };
        match req {
            StreamControl::Status => {
                let status = Ok(self.status());
                tokio::spawn(async move { replier.send(&status).await });
            }
            StreamControl::Stop => {
                self.want_run = false;
                let stopped =
                    record_stopped(self.stop_run(), self.spec.clone(), self.shared.clone(), "stopped by request");
                ctx.wait(stopped.into_actor(self).map(move |r, act, _| {
                    act.publish(true);
                    let reply = r.map(|()| act.status());
                    tokio::spawn(async move { replier.send(&reply).await });
                }));
            }
            StreamControl::Start { stop_pos } => {
                let task = self.stop_run();
                let spec = self.spec.clone();
                ctx.wait(
                    async move {
                        if let Some(t) = task {
                            let _ = t.await;
                        }
                        let mut c = spec.target.connect().await.map_err(|e| e.to_string())?;
                        crate::vrepl::state::ensure_schema(&mut c).await.map_err(|e| e.to_string())?;
                        stream::set_stop_pos(&mut c, &stream::row_key(&spec), stop_pos.as_deref())
                            .await
                            .map_err(|e| e.to_string())
                    }
                    .into_actor(self)
                    .map(move |r, act, ctx| {
                        if r.is_ok() {
                            act.want_run = true;
                            act.failures = 0;
                            act.start_run(ctx);
                        }
                        let reply = r.map(|()| act.status());
                        tokio::spawn(async move { replier.send(&reply).await });
                    }),
                );
            }
        }
    }
}

/// Waits for the stream's run to end, then records it as Stopped with `message`: in its row on
/// the target (with the position it stopped at) and in the status it reports. The status says
/// Stopped even when the target cannot be reached; the error says why the row was not written.
async fn record_stopped(
    task: Option<tokio::task::JoinHandle<()>>,
    spec: StreamSpec,
    shared: Shared,
    message: &'static str,
) -> Result<(), String> {
    if let Some(t) = task {
        let _ = t.await;
    }
    let written = async {
        let mut c = spec.target.connect().await.map_err(|e| e.to_string())?;
        let key = stream::row_key(&spec);
        stream::set_state(&mut c, &key, "Stopped", message).await.map_err(|e| e.to_string())?;
        let row = crate::vrepl::state::load(&mut c, &key).await.map_err(|e| e.to_string())?;
        Ok::<_, String>(row.map(|r| r.pos))
    }
    .await;
    crate::vrepl::replay::update(&shared, |s| {
        s.state = "Stopped".into();
        s.message = message.into();
        if let Ok(Some(pos)) = &written {
            s.position = pos.clone();
        }
    });
    written.map(|_| ())
}

//! Replica lag: a replica or rdonly tablet too far behind its primary serves no reads.

use actix::prelude::*;
use tracing::{info, warn};

use super::TabletActor;
use crate::protocol::topology::TabletType;

impl TabletActor {
    /// A replica or rdonly tablet lagging past `max_replica_lag_s` (or whose SQL thread
    /// stopped while its IO thread fetches on) stops serving reads until it catches up.
    pub(super) fn check_lag(&mut self, ctx: &mut Context<Self>) {
        let lag = self.replication.as_ref().and_then(|r| r.lag_secs).unwrap_or(0);
        self.service.metrics.lag_seconds.set(i64::try_from(lag).unwrap_or(i64::MAX));
        let lagging = match (self.state.tablet_type(), self.replication.as_ref()) {
            (TabletType::Replica | TabletType::Rdonly, Some(r))
                if self.cfg.max_replica_lag_s > 0 && !self.catching_up =>
            {
                lag_reason(r, self.cfg.max_replica_lag_s)
            }
            _ => None,
        };
        match (lagging, self.lagging.is_some()) {
            (Some(why), _) => {
                if self.state.serving.load(std::sync::atomic::Ordering::SeqCst) {
                    warn!(tablet = %self.cfg.alias, "{why}; not serving reads until caught up");
                    self.not_serving(&why);
                    self.publish_health(ctx);
                }
                self.lagging = Some(why);
            }
            (None, true) => {
                info!(tablet = %self.cfg.alias, "replication caught up; serving reads again");
                self.lagging = None;
            }
            (None, false) => {}
        }
    }
}

/// Why a replica is too far behind to serve reads, if it is.
fn lag_reason(r: &crate::protocol::tablet::ReplicationStatus, max_s: u64) -> Option<String> {
    r.source.as_ref()?;
    if r.io_running && !r.sql_running {
        return Some("replication's SQL thread stopped while it fetches on: its lag grows".into());
    }
    match r.lag_secs {
        Some(lag) if lag > max_s => Some(format!("replication lags {lag} s, more than max_replica_lag_s {max_s}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::lag_reason;
    use crate::protocol::tablet::ReplicationStatus;

    #[test]
    fn lag_takes_a_replica_out_of_serving() {
        let ok = ReplicationStatus {
            source: Some("127.0.0.1:1".into()),
            io_running: true,
            sql_running: true,
            lag_secs: Some(3),
            ..Default::default()
        };
        assert_eq!(lag_reason(&ok, 30), None);
        let behind = ReplicationStatus { lag_secs: Some(31), ..ok.clone() };
        assert!(lag_reason(&behind, 30).unwrap().contains("lags 31 s"));
        let stalled = ReplicationStatus { sql_running: false, lag_secs: None, ..ok.clone() };
        assert!(lag_reason(&stalled, 30).unwrap().contains("SQL thread stopped"));
        // Its primary gone (IO thread down): what it has is as fresh as it gets; it serves.
        let orphan = ReplicationStatus { io_running: false, lag_secs: None, ..ok.clone() };
        assert_eq!(lag_reason(&orphan, 30), None);
        // Not replicating at all (a primary's own status): nothing to lag behind.
        assert_eq!(lag_reason(&ReplicationStatus::default(), 30), None);
    }
}

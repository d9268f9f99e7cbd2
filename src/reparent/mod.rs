//! Reparenting and failover: the durability policies, the choice of a new primary, and the
//! failover singleton ([`failover`]). The reparents themselves run as admin commands
//! (`PlannedReparentShard`, `EmergencyReparentShard`); a replaced primary fences itself
//! (`actors::tablet::fence`).

pub mod failover;

use std::time::Duration;

use crate::backup::pitr::gtid_le;
use crate::protocol::topology::TabletType;

/// Whether a primary under `policy` waits for a replica's acknowledgement before a commit
/// returns (MariaDB semi-sync, `AFTER_SYNC`).
pub fn primary_waits(policy: &str) -> bool {
    matches!(policy, "semi_sync" | "cross_cell")
}

/// Whether a tablet of `tablet_type` in `my_cell` acknowledges the commits of a primary in
/// `primary_cell` under `policy`. rdonly tablets never do; under `cross_cell` only replicas
/// in another cell do.
pub fn acknowledges(policy: &str, tablet_type: TabletType, my_cell: &str, primary_cell: &str) -> bool {
    match policy {
        "semi_sync" => tablet_type == TabletType::Replica,
        "cross_cell" => tablet_type == TabletType::Replica && my_cell != primary_cell,
        _ => false,
    }
}

/// Publishes a `recovery` cluster event; a failure to publish is logged, not returned (the
/// recovery itself has happened either way).
pub async fn publish_event(store: &crate::topo::store::TopoStore, name: &str, summary: String) {
    let m = crate::metrics::metrics();
    crate::metrics::Metrics::count_event(&m.recovery_events, crate::protocol::events::RECOVERY_EVENT_NAMES, name);
    let ev = crate::protocol::events::ClusterEvent::recovery(name, summary);
    let id = uuid::Uuid::new_v4().simple().to_string();
    if let Err(e) = store.publish_event(&ev, &id).await {
        tracing::warn!(error = %e, event = name, "could not publish a recovery event");
    }
}

/// One tablet that may become primary: its alias, cell and GTID position (`gtid_current_pos`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub alias: String,
    pub cell: String,
    pub position: String,
}

/// The tablet an emergency reparent promotes: one whose position contains every other
/// reachable tablet's (nothing another tablet applied is lost), preferring `wanted`, then the
/// old primary's cell, then the alias order. Errs, naming the tablets, when `wanted` is
/// behind another tablet or no tablet contains all the others (their histories diverge:
/// errant transactions, which are never merged silently).
pub fn most_advanced<'a>(
    candidates: &'a [Candidate],
    others: &[Candidate],
    wanted: Option<&str>,
    prefer_cell: &str,
) -> Result<&'a Candidate, String> {
    let covers = |c: &Candidate| {
        candidates.iter().chain(others).all(|o| o.alias == c.alias || gtid_le(&o.position, &c.position))
    };
    if let Some(w) = wanted {
        let c = candidates
            .iter()
            .find(|c| c.alias == w)
            .ok_or_else(|| format!("{w} is not a reachable replica of the shard"))?;
        if let Some(ahead) = candidates.iter().chain(others).find(|o| !gtid_le(&o.position, &c.position)) {
            return Err(format!(
                "{w} (at {}) is behind {} (at {}): promoting it would lose transactions; \
                 leave out --new-primary to promote the most advanced tablet",
                c.position, ahead.alias, ahead.position
            ));
        }
        return Ok(c);
    }
    let mut best: Vec<&Candidate> = candidates.iter().filter(|c| covers(c)).collect();
    best.sort_by(|a, b| (a.cell != prefer_cell, &a.alias).cmp(&(b.cell != prefer_cell, &b.alias)));
    best.first().copied().ok_or_else(|| {
        let all: Vec<String> =
            candidates.iter().chain(others).map(|c| format!("{} at {}", c.alias, c.position)).collect();
        if candidates.is_empty() {
            "no replica of the shard answered; nothing to promote".to_string()
        } else {
            format!(
                "no replica has every transaction the others have ({}): their histories diverge \
                 (errant GTIDs); fix them by hand, then name one with --new-primary",
                all.join(", ")
            )
        }
    })
}

/// Parses `30s`, `500ms`, `2m`, `1h` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(t.len()));
    let n: f64 = num.parse().map_err(|_| format!("`{text}` is not a duration (e.g. 30s, 500ms, 2m)"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("`{text}`: unknown unit `{unit}` (use ms, s, m or h)")),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("`{text}` is not a duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(alias: &str, cell: &str, position: &str) -> Candidate {
        Candidate { alias: alias.into(), cell: cell.into(), position: position.into() }
    }

    #[test]
    fn policies() {
        assert!(!primary_waits("none"));
        assert!(primary_waits("semi_sync") && primary_waits("cross_cell"));
        assert!(acknowledges("semi_sync", TabletType::Replica, "a", "a"));
        assert!(!acknowledges("semi_sync", TabletType::Rdonly, "a", "a"));
        assert!(!acknowledges("cross_cell", TabletType::Replica, "a", "a"));
        assert!(acknowledges("cross_cell", TabletType::Replica, "b", "a"));
        assert!(!acknowledges("none", TabletType::Replica, "b", "a"));
    }

    #[test]
    fn picks_the_most_advanced() {
        let cands = vec![c("r1", "z1", "0-1-10"), c("r2", "z2", "0-1-12"), c("r3", "z1", "0-1-12")];
        let rdonly = vec![c("ro", "z1", "0-1-11")];
        // r2 and r3 both have everything; the old primary's cell wins the tie.
        assert_eq!(most_advanced(&cands, &rdonly, None, "z1").unwrap().alias, "r3");
        assert_eq!(most_advanced(&cands, &rdonly, None, "z2").unwrap().alias, "r2");
        assert_eq!(most_advanced(&cands, &rdonly, Some("r2"), "z1").unwrap().alias, "r2");
        let e = most_advanced(&cands, &rdonly, Some("r1"), "z1").unwrap_err();
        assert!(e.contains("r1 (at 0-1-10) is behind"), "{e}");
        assert!(most_advanced(&cands, &[], Some("zz"), "z1").unwrap_err().contains("not a reachable replica"));
        // An rdonly ahead of every replica: no replica holds everything.
        let e = most_advanced(&cands, &[c("ro", "z1", "0-1-13")], None, "z1").unwrap_err();
        assert!(e.contains("diverge"), "{e}");
        // Two domains that each lead elsewhere: diverged.
        let split = vec![c("a", "z", "0-1-5,1-2-3"), c("b", "z", "0-1-6,1-2-2")];
        assert!(most_advanced(&split, &[], None, "z").unwrap_err().contains("errant"));
        assert!(most_advanced(&[], &[], None, "z").unwrap_err().contains("no replica"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("7").unwrap(), Duration::from_secs(7));
        assert!(parse_duration("x").is_err());
        assert!(parse_duration("5d").unwrap_err().contains("unknown unit"));
    }
}

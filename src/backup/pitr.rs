//! Point-in-time recovery. The `binlog` engine saves a tablet's closed binary logs as an
//! incremental backup (`Backup --incremental`, usually of the primary). A restore to a time or
//! a GTID position restores the newest full backup at or before it, then replays the saved
//! binlogs from that backup's position up to the target with `mariadb-binlog | mariadb`, into a
//! tablet left `drained` for the operator to read.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde::{Deserialize, Serialize};

use super::{fetch_verified, BackupStorage, Manifest, SharedStorage};

/// The engine name of incremental (binary log) backups.
pub const BINLOG_ENGINE: &str = "binlog";

/// Where a point-in-time restore stops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PitrTarget {
    /// Every transaction committed before this second (UTC, ms since the epoch; to the second:
    /// binlog events carry seconds, so events in the target's own second are left out).
    Time { ms: u64 },
    /// Every transaction up to and including this GTID list.
    Position { gtid: String },
}

impl std::fmt::Display for PitrTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PitrTarget::Time { ms } => write!(f, "{} UTC", format_utc(*ms)),
            PitrTarget::Position { gtid } => write!(f, "GTID {gtid}"),
        }
    }
}

impl PitrTarget {
    /// `--restore-to-time` (`2026-12-01T10:00:00Z`, `2026-12-01 10:00:00`, UTC).
    pub fn time(text: &str) -> Result<Self, String> {
        parse_utc(text).map(|ms| PitrTarget::Time { ms })
    }

    /// `--restore-to-pos` (`0-200-42`, or a list for several domains).
    pub fn position(text: &str) -> Result<Self, String> {
        parse_gtids(text)?;
        Ok(PitrTarget::Position { gtid: text.trim().to_string() })
    }
}

/// What a point-in-time restore uses: the full backup, then the binlog backups after it.
#[derive(Debug, Clone)]
pub struct PitrPlan {
    pub full: Manifest,
    pub binlogs: Vec<Manifest>,
    pub target: PitrTarget,
}

/// Chooses the newest full backup at or before `target` and the binlog backups that reach past
/// it; refuses (before anything is touched) when the saved binlogs do not reach the target.
pub async fn plan(
    storage: &SharedStorage,
    keyspace: &str,
    shard: &str,
    target: PitrTarget,
) -> Result<PitrPlan, String> {
    let complete: Vec<Manifest> = storage.list(keyspace, shard).await?.into_iter().filter_map(|b| b.manifest).collect();
    let (mut binlogs, fulls): (Vec<Manifest>, Vec<Manifest>) =
        complete.into_iter().partition(|m| m.engine == BINLOG_ENGINE);
    let at_or_before = |m: &Manifest| match &target {
        PitrTarget::Time { ms } => m.finished_ms <= *ms,
        PitrTarget::Position { gtid } => gtid_le(&m.position, gtid),
    };
    let full = fulls.into_iter().find(at_or_before).ok_or_else(|| {
        format!("no complete full backup of {keyspace}/{shard} at or before {target} (GetBackups lists them)")
    })?;
    binlogs.retain(|b| !gtid_le(&b.position, &full.position));
    binlogs.sort_by_key(|b| b.started_ms);
    let reaches = |b: &Manifest| match &target {
        PitrTarget::Time { ms } => b.finished_ms >= *ms,
        PitrTarget::Position { gtid } => gtid_le(gtid, &b.position),
    };
    if !binlogs.iter().any(reaches) {
        let saved = binlogs.last().map_or(full.position.clone(), |b| b.position.clone());
        return Err(format!(
            "the binlogs saved for {keyspace}/{shard} reach {saved}, not {target}: take `Backup --incremental` of the primary first, or choose an earlier point"
        ));
    }
    Ok(PitrPlan { full, binlogs, target })
}

/// A MySQL login for the replay.
pub struct Login {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
}

/// Replays the plan's binlogs into the running server from the full backup's position to the
/// target (each binlog file once, in the order the backups saved them).
pub async fn apply(storage: &SharedStorage, plan: &PitrPlan, login: &Login, scratch: &Path) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(scratch);
    let mut files: Vec<PathBuf> = Vec::new();
    let mut seen = HashSet::new();
    for (i, m) in plan.binlogs.iter().enumerate() {
        let fetched = fetch_verified(storage, m, &scratch.join(format!("stored{i}")), None).await?;
        for (entry, stored) in m.files.iter().zip(fetched) {
            if !seen.insert((m.tablet_alias.clone(), entry.path.clone())) {
                continue;
            }
            let to = scratch.join("binlogs").join(&m.tablet_alias).join(&entry.path);
            if let Some(p) = to.parent() {
                std::fs::create_dir_all(p).map_err(|e| format!("cannot create {}: {e}", p.display()))?;
            }
            let (from, to2) = (stored.clone(), to.clone());
            tokio::task::spawn_blocking(move || -> Result<(), String> {
                let input = std::fs::File::open(&from).map_err(|e| format!("cannot read {}: {e}", from.display()))?;
                let mut out =
                    std::fs::File::create(&to2).map_err(|e| format!("cannot write {}: {e}", to2.display()))?;
                zstd::stream::copy_decode(input, &mut out).map_err(|e| format!("cannot unpack {}: {e}", from.display()))
            })
            .await
            .map_err(|e| e.to_string())??;
            files.push(to);
        }
    }
    let binlog = crate::mysqld::find_binary(&["mariadb-binlog", "mysqlbinlog"])
        .ok_or("mariadb-binlog not found (apt-get install mariadb-client)")?;
    let client = crate::mysqld::find_binary(&["mariadb", "mysql"])
        .ok_or("the mariadb client not found (apt-get install mariadb-client)")?;
    let cnf = scratch.join("client.cnf");
    crate::cli::write_private_file(&cnf, &format!("[client]\npassword={}\n", login.password))
        .map_err(|e| e.to_string())?;
    let stop = match &plan.target {
        PitrTarget::Time { ms } => format!("--stop-datetime={}", format_utc(*ms)),
        PitrTarget::Position { gtid } => format!("--stop-position={gtid}"),
    };
    // The dates mariadb-binlog reads and prints are in its local time zone: UTC here.
    let mut dump = tokio::process::Command::new(&binlog)
        .env("TZ", "UTC")
        .arg(format!("--start-position={}", plan.full.position))
        .arg(stop)
        .args(&files)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", binlog.display()))?;
    let stdout: Stdio = dump
        .stdout
        .take()
        .ok_or("mariadb-binlog has no output")?
        .try_into()
        .map_err(|e| format!("cannot pipe mariadb-binlog: {e}"))?;
    let replay = tokio::process::Command::new(&client)
        .arg(format!("--defaults-extra-file={}", cnf.display()))
        .args(["--host", &login.host, "--port", &login.port.to_string(), "--user", &login.user, "--binary-mode"])
        .stdin(stdout)
        .stderr(Stdio::piped())
        .output();
    let (dumped, replayed) = tokio::join!(dump.wait_with_output(), replay);
    let dumped = dumped.map_err(|e| format!("mariadb-binlog: {e}"))?;
    let replayed = replayed.map_err(|e| format!("mariadb: {e}"))?;
    if !dumped.status.success() {
        return Err(format!("mariadb-binlog failed: {}", String::from_utf8_lossy(&dumped.stderr).trim()));
    }
    if !replayed.status.success() {
        return Err(format!("replaying the binlogs failed: {}", String::from_utf8_lossy(&replayed.stderr).trim()));
    }
    let _ = std::fs::remove_dir_all(scratch);
    Ok(())
}

/// After the full backup is restored into `mysqld` (stopped): starts it and replays the plan's
/// binlogs. mysqld is left running (the tablet adopts it).
pub async fn replay_into(
    storage: &SharedStorage,
    plan: &PitrPlan,
    mysqld: &crate::mysqld::Mysqld,
    login: &Login,
) -> Result<(), String> {
    let mut child = match mysqld.running_pid() {
        Some(_) => None,
        None => Some(mysqld.spawn().map_err(|e| e.to_string())?),
    };
    mysqld.wait_ready(child.as_mut(), std::time::Duration::from_secs(120)).await.map_err(|e| e.to_string())?;
    let scratch = storage.scratch().join(format!("replay.{}", plan.full.name));
    let res = apply(storage, plan, login, &scratch).await;
    let _ = std::fs::remove_dir_all(&scratch);
    res
}

/// `d-s-n[,d-s-n...]` to domain -> sequence number (the server id does not order).
pub fn parse_gtids(text: &str) -> Result<BTreeMap<u32, u64>, String> {
    let mut out = BTreeMap::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut it = part.split('-');
        let parsed = (|| {
            Some((it.next()?.parse::<u32>().ok()?, it.next()?.parse::<u32>().ok()?, it.next()?.parse::<u64>().ok()?))
        })();
        match parsed {
            Some((domain, _, seq)) if it.next().is_none() => {
                if out.insert(domain, seq).is_some() {
                    return Err(format!("`{text}` names domain {domain} twice"));
                }
            }
            _ => return Err(format!("`{part}` is not a GTID (domain-server-sequence, e.g. 0-200-42)")),
        }
    }
    Ok(out)
}

/// True when every transaction of position `a` is in position `b`.
pub fn gtid_le(a: &str, b: &str) -> bool {
    let (Ok(a), Ok(b)) = (parse_gtids(a), parse_gtids(b)) else { return false };
    a.iter().all(|(d, n)| b.get(d).is_some_and(|m| n <= m))
}

/// `YYYY-MM-DD HH:MM:SS`, UTC.
pub fn format_utc(ms: u64) -> String {
    let secs = (ms / 1000) as i64;
    let (y, m, d) = super::civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// `YYYY-MM-DD[T| ]HH:MM:SS[Z]` (UTC) to ms since the epoch.
pub fn parse_utc(text: &str) -> Result<u64, String> {
    let bad = || format!("`{text}` is not a UTC time like 2026-12-01T10:00:00Z");
    let t = text.trim().trim_end_matches('Z');
    let (date, time) = t.split_once(['T', ' ']).ok_or_else(bad)?;
    let num = |s: Option<&str>| s.and_then(|v| v.parse::<i64>().ok()).ok_or_else(bad);
    let mut d = date.split('-');
    let (y, mo, day) = (num(d.next())?, num(d.next())?, num(d.next())?);
    let mut h = time.split(':');
    let (hh, mm, ss) = (num(h.next())?, num(h.next())?, num(h.next())?);
    if d.next().is_some()
        || h.next().is_some()
        || !(1..=12).contains(&mo)
        || !(1..=31).contains(&day)
        || hh > 23
        || mm > 59
        || ss > 60
    {
        return Err(bad());
    }
    let secs = super::retention::days_from_civil(y, mo, day) * 86_400 + hh * 3600 + mm * 60 + ss;
    u64::try_from(secs).map(|s| s * 1000).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gtid_positions_compare_per_domain() {
        assert!(gtid_le("0-200-5", "0-300-7"));
        assert!(!gtid_le("0-200-8", "0-300-7"));
        assert!(gtid_le("0-200-5", "0-200-5,1-200-3"));
        assert!(!gtid_le("0-200-5,1-200-3", "0-200-5"));
        assert!(gtid_le("", "0-1-1"));
        assert!(parse_gtids("0-200").is_err());
        assert!(parse_gtids("0-1-1,0-1-2").unwrap_err().contains("twice"));
        assert!(PitrTarget::position("x").is_err());
    }

    #[test]
    fn utc_times_round_trip() {
        let ms = parse_utc("2026-12-01T10:20:30Z").unwrap();
        assert_eq!(format_utc(ms), "2026-12-01 10:20:30");
        assert_eq!(parse_utc("2026-12-01 10:20:30").unwrap(), ms);
        assert_eq!(parse_utc("1970-01-01T00:00:00Z").unwrap(), 0);
        for bad in ["2026-13-01T00:00:00Z", "2026-12-01", "yesterday", "2026-12-01T25:00:00"] {
            assert!(parse_utc(bad).is_err(), "{bad}");
        }
    }
}

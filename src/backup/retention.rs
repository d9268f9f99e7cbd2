//! Which backups retention removes (`[backup] keep_last`, `keep_days`), and when a shard is due
//! for a scheduled backup. Pure: the scheduler lists and removes.

use super::pitr::gtid_le;
use super::{is_full, BackupInfo};

const DAY_MS: u64 = 86_400_000;

/// The backups of one shard (newest first, as listed) that retention removes:
/// - a complete full backup once it is beyond the newest `keep_last` full ones **and** older
///   than `keep_days` (with only one of the two set, that one decides; with neither, nothing
///   is removed); the newest full backup is never removed;
/// - an incremental (binlog) backup once the oldest full backup kept already holds all of it
///   (point-in-time recovery starts from a full backup, so it is of no more use);
/// - a partial backup (no manifest: its copy failed or its node died) once a complete backup
///   newer than it exists and it started more than a day ago (so a running one is left alone).
pub fn expired(backups: &[BackupInfo], now_ms: u64, keep_last: usize, keep_days: u64) -> Vec<String> {
    if keep_last == 0 && keep_days == 0 {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut fulls_seen = 0usize;
    let mut oldest_kept: Option<&str> = None;
    let mut complete_seen = false;
    for b in backups {
        match &b.manifest {
            Some(m) if is_full(m) => {
                let beyond_count = keep_last == 0 || fulls_seen >= keep_last;
                let too_old = keep_days == 0 || now_ms.saturating_sub(m.finished_ms) > keep_days * DAY_MS;
                if fulls_seen > 0 && beyond_count && too_old {
                    out.push(b.name.clone());
                } else {
                    oldest_kept = Some(&m.position);
                }
                fulls_seen += 1;
                complete_seen = true;
            }
            Some(_) => complete_seen = true,
            None => {
                let started = started_ms(&b.name);
                if complete_seen && started.is_some_and(|t| now_ms.saturating_sub(t) > DAY_MS) {
                    out.push(b.name.clone());
                }
            }
        }
    }
    if let Some(kept) = oldest_kept {
        for b in backups {
            if let Some(m) = b.manifest.as_ref().filter(|m| !is_full(m)) {
                if gtid_le(&m.position, kept) {
                    out.push(b.name.clone());
                }
            }
        }
    }
    out
}

/// True when a shard whose newest complete backup finished at `newest_ms` (None: never backed
/// up) is due for its scheduled backup every `every_ms`.
pub fn due(newest_ms: Option<u64>, now_ms: u64, every_ms: u64) -> bool {
    newest_ms.is_none_or(|t| now_ms.saturating_sub(t) >= every_ms)
}

/// When a backup started, from its name (`YYYY-MM-DD.HHMMSS.<alias>`).
pub fn started_ms(name: &str) -> Option<u64> {
    let (date, rest) = name.split_once('.')?;
    let time = rest.get(..6)?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let n = |r: std::ops::Range<usize>| time.get(r)?.parse::<i64>().ok();
    let secs = days_from_civil(y, m, day) * 86_400 + n(0..2)? * 3600 + n(2..4)? * 60 + n(4..6)?;
    u64::try_from(secs).ok().map(|s| s * 1000)
}

/// (year, month, day) to days since 1970-01-01, proleptic Gregorian (Howard Hinnant's method).
pub(super) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::super::{backup_name, Manifest};
    use super::*;

    fn backup(day: u64, complete: bool) -> BackupInfo {
        let t = day * DAY_MS;
        let name = backup_name(t, "zone1-0000000101");
        let manifest = complete.then(|| Manifest {
            name: name.clone(),
            keyspace: "ks".into(),
            shard: "-80".into(),
            tablet_alias: "zone1-0000000101".into(),
            engine: "mariabackup".into(),
            mariadb_version: String::new(),
            position: String::new(),
            topology_seq: 0,
            started_ms: t,
            finished_ms: t,
            files: Vec::new(),
        });
        BackupInfo { name, manifest }
    }

    #[test]
    fn names_give_back_their_start_time() {
        let t = 1_796_075_504_000;
        assert_eq!(started_ms(&backup_name(t, "z-1")), Some(t));
        assert_eq!(started_ms("garbage"), None);
    }

    #[test]
    fn retention_keeps_the_newest_and_removes_only_what_both_rules_allow() {
        // Newest first: days 10 (complete), 9 (partial), 8, 5, 1 (complete), 0 (partial).
        let list = vec![
            backup(10, true),
            backup(9, false),
            backup(8, true),
            backup(5, true),
            backup(1, true),
            backup(0, false),
        ];
        let now = 10 * DAY_MS + 1;
        let names = |days: &[u64]| days.iter().map(|d| backup_name(d * DAY_MS, "zone1-0000000101")).collect::<Vec<_>>();
        assert!(expired(&list, now, 0, 0).is_empty(), "no policy: nothing removed");
        assert_eq!(expired(&list, now, 2, 0), names(&[9, 5, 1, 0]));
        assert_eq!(expired(&list, now, 0, 3), names(&[9, 5, 1, 0]), "older than 3 days");
        assert_eq!(expired(&list, now, 3, 3), names(&[9, 1, 0]), "beyond 3 and older than 3 days");
        assert_eq!(expired(&list, now, 1, 30), names(&[9, 0]), "all complete ones are younger than 30 days");
        // The newest complete backup stays whatever its age; a recent partial one stays.
        assert!(expired(&[backup(0, true)], 100 * DAY_MS, 0, 1).is_empty());
        assert!(expired(&[backup(10, false), backup(9, true)], now, 1, 0).is_empty());
    }

    #[test]
    fn binlog_backups_go_once_the_oldest_full_backup_kept_holds_them() {
        let with = |mut b: BackupInfo, engine: &str, pos: &str| {
            if let Some(m) = b.manifest.as_mut() {
                m.engine = engine.into();
                m.position = pos.into();
            }
            b
        };
        // Newest first: binlog to 0-1-30, full at 0-1-20, binlog to 0-1-15, binlog to 0-1-25
        // (saved before the full backup finished but reaching past it), full at 0-1-10.
        let list = vec![
            with(backup(10, true), "binlog", "0-1-30"),
            with(backup(9, true), "mariabackup", "0-1-20"),
            with(backup(8, true), "binlog", "0-1-15"),
            with(backup(7, true), "binlog", "0-1-25"),
            with(backup(5, true), "builtin", "0-1-10"),
        ];
        let names = |days: &[u64]| days.iter().map(|d| backup_name(d * DAY_MS, "zone1-0000000101")).collect::<Vec<_>>();
        assert_eq!(expired(&list, 10 * DAY_MS, 1, 0), names(&[5, 8]), "keep the newest full backup only");
        assert!(expired(&list, 10 * DAY_MS, 2, 0).is_empty(), "both full backups kept: every binlog may serve");
    }

    #[test]
    fn a_shard_is_due_when_its_newest_backup_is_older_than_the_interval() {
        assert!(due(None, 5, 1000));
        assert!(!due(Some(1000), 1500, 1000));
        assert!(due(Some(1000), 2000, 1000));
    }
}

//! `--wait` on backups and restores: while the command runs, a progress bar on stderr drawn
//! from the tablet's `BackupProgress` / `RestoreProgress` events (bytes, files, rate, ETA).

use std::io::{IsTerminal, Write};

use futures::StreamExt;

use crate::backup::Progress;
use crate::client::{subscribe_events, EventsFrom};
use crate::protocol::events::KIND_BACKUP;
use crate::protocol::subjects;

/// Whose progress to draw: a tablet (`Backup`, `RestoreFromBackup`) or any tablet of a shard
/// (`BackupShard`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Tablet(String),
    Shard(String, String),
}

impl Scope {
    fn matches(&self, p: &Progress) -> bool {
        match self {
            Scope::Tablet(alias) => &p.alias == alias,
            Scope::Shard(ks, shard) => &p.keyspace == ks && &p.shard == shard,
        }
    }
}

/// Draws progress while `work` runs; returns what `work` returns. A bar that cannot subscribe
/// to events is left out (the command itself still runs and answers).
pub async fn drawing<T>(client: async_nats::Client, scope: Scope, work: impl std::future::Future<Output = T>) -> T {
    let filter = subjects::events_filter(KIND_BACKUP, None);
    let events = match subscribe_events(client, EventsFrom::Now, filter).await {
        Ok(e) => e,
        Err(e) => {
            eprintln!("(no progress bar: {e})");
            return work.await;
        }
    };
    let tty = std::io::stderr().is_terminal();
    let drawer = tokio::spawn(async move {
        let mut events = std::pin::pin!(events);
        while let Some(Ok(ev)) = events.next().await {
            let Some(p) = ev.event.progress.filter(|p| scope.matches(p)) else { continue };
            let line = bar(&p);
            let mut err = std::io::stderr().lock();
            let _ = if tty { write!(err, "\r\x1b[2K{line}") } else { writeln!(err, "{line}") };
            let _ = err.flush();
        }
    });
    let out = work.await;
    drawer.abort();
    if tty {
        eprintln!();
    }
    out
}

/// `storing  [#########...........]  45%  120.0/266.7 MB  3/9 files  35.2 MB/s  ETA 4s`
pub fn bar(p: &Progress) -> String {
    const WIDTH: usize = 24;
    let f = p.fraction();
    let filled = ((f * WIDTH as f64).round() as usize).min(WIDTH);
    let rate = p.rate();
    let eta = if rate > 0.0 && p.bytes_total > p.bytes_done {
        format!("ETA {:.0}s", (p.bytes_total - p.bytes_done) as f64 / rate)
    } else {
        String::new()
    };
    format!(
        "{} {} [{}{}] {:3.0}%  {:.1}/{:.1} MB  {}/{} files  {:.1} MB/s  {eta}",
        p.alias,
        p.phase,
        "#".repeat(filled),
        ".".repeat(WIDTH - filled),
        f * 100.0,
        p.bytes_done as f64 / 1e6,
        p.bytes_total as f64 / 1e6,
        p.files_done,
        p.files_total,
        rate / 1e6
    )
    .trim_end()
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_shows_bytes_files_rate_and_eta() {
        let p = Progress {
            alias: "zone1-0000000201".into(),
            keyspace: "customer".into(),
            shard: "-80".into(),
            phase: "storing".into(),
            files_done: 3,
            files_total: 9,
            bytes_done: 50_000_000,
            bytes_total: 100_000_000,
            elapsed_ms: 2_000,
        };
        let b = bar(&p);
        assert!(b.contains("[############............]  50%"), "{b}");
        assert!(
            b.contains("50.0/100.0 MB") && b.contains("3/9 files") && b.contains("25.0 MB/s") && b.ends_with("ETA 2s"),
            "{b}"
        );
        assert!(Scope::Shard("customer".into(), "-80".into()).matches(&p));
        assert!(!Scope::Tablet("zone1-0000000202".into()).matches(&p));
    }
}

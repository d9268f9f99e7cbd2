//! `tessera events`: print cluster events as they happen.

use futures::StreamExt;

use crate::client::{subscribe_events, EventsFrom, ReceivedEvent};
use crate::protocol::events::resolve_filter;
use crate::protocol::subjects;

#[derive(Debug, clap::Args)]
pub struct EventsArgs {
    /// NATS server URL.
    #[arg(long, env = "TESSERA_NATS", default_value = "nats://127.0.0.1:4222")]
    pub nats: String,
    #[command(flatten)]
    pub nats_auth: super::NatsAuthArgs,
    /// Start with every event still kept, not just new ones.
    #[arg(long)]
    pub from_start: bool,
    /// Only events of this kind (`topo`, `node`) or name (`ShardCreated`, `NodeLost`, ...).
    /// Repeat to allow several.
    #[arg(long)]
    pub filter: Vec<String>,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
    /// Exit after this many events.
    #[arg(long)]
    pub limit: Option<u64>,
}

pub async fn run(args: EventsArgs) -> anyhow::Result<i32> {
    let mut filters = Vec::new();
    for f in &args.filter {
        filters.push(resolve_filter(f).map_err(anyhow::Error::msg)?);
    }
    // One filter is applied by the server; several are applied here.
    let server_filter = match filters.as_slice() {
        [(kind, name)] => subjects::events_filter(kind, *name),
        _ => subjects::events_all(),
    };
    let auth = args.nats_auth.clone().resolve(crate::nats_roles::Role::Observer)?;
    let client =
        crate::nats::connect_once(&args.nats, "tessera-events", &auth, crate::nats_roles::Role::Observer).await?;
    let from = if args.from_start { EventsFrom::Start } else { EventsFrom::Now };
    let events = subscribe_events(client, from, server_filter).await?;
    futures::pin_mut!(events);
    if !args.json {
        eprintln!("listening for cluster events on {} (Ctrl-C to stop)", args.nats);
    }
    let mut printed = 0u64;
    while let Some(item) = events.next().await {
        let ev = match item {
            Ok(ev) => ev,
            Err(e) => {
                eprintln!("warning: {e}");
                continue;
            }
        };
        if filters.len() > 1
            && !filters.iter().any(|(k, n)| ev.event.kind == *k && n.is_none_or(|n| ev.event.name == n))
        {
            continue;
        }
        print_event(&ev, args.json)?;
        printed += 1;
        if args.limit.is_some_and(|l| printed >= l) {
            break;
        }
    }
    Ok(0)
}

fn print_event(ev: &ReceivedEvent, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(ev)?);
    } else {
        println!("{}  {:<4}  {:<26} {}", format_time(ev.time_ms), ev.event.kind, ev.event.name, ev.event.summary);
    }
    Ok(())
}

pub use crate::protocol::envelope::format_time;

#[cfg(test)]
mod tests {
    #[test]
    fn formats_utc() {
        assert_eq!(super::format_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(super::format_time(1_795_000_000_123), "2026-11-18T11:06:40.123Z");
        assert_eq!(super::format_time(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}

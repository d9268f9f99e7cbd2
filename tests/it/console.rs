//! The operator console in a real browser (headless Chromium through ChromeDriver) against a
//! running cluster: tablets with their health, a live event arriving after `CreateKeyspace`,
//! and the time-travel slider moved back to before that keyspace existed. Screenshots are
//! kept under the target directory's `tmp/console-screenshots/`.

use std::path::PathBuf;

use crate::harness::browser::Browser;
use crate::harness::cluster::GatewayCluster;
use crate::harness::node::{ctl_ok, http_get};

fn shots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn console_shows_tablets_live_events_and_travels_back_in_time() {
    let c = GatewayCluster::start().await;
    let base = format!("http://{}", c.node.http);
    let dir = shots();
    let browser = Browser::start();

    // The keyspace page: shards, and every tablet with its health and links.
    browser.goto(&format!("{base}/keyspace/customer"));
    let text = browser.wait_text(20, "the customer tablets serving", |t| {
        t.contains("zone1-0000000200") && t.contains("zone1-0000000300") && t.matches("serving").count() >= 3
    });
    assert!(text.contains("-80") && text.contains("80-"), "{text}");
    assert!(text.contains("mysqld up"), "{text}");
    browser.screenshot(&dir.join("1-keyspace.png"));
    // From a tablet to its page, which links back to its shard.
    browser.goto(&format!("{base}/tablet/zone1-0000000201"));
    let text = browser.wait_text(20, "the replica's page", |t| t.contains("Replication") && t.contains("replica"));
    assert!(text.contains("customer/-80"), "{text}");
    let links = browser.eval("return [...document.querySelectorAll('a')].map(a => a.getAttribute('href'));");
    let links: Vec<String> = links.as_array().unwrap().iter().filter_map(|l| l.as_str().map(String::from)).collect();
    assert!(links.contains(&"/keyspace/customer/shard/-80".to_string()), "{links:?}");
    assert!(links.contains(&"/keyspace/customer".to_string()), "{links:?}");

    // Live events: the page is following before the keyspace is created, and the event
    // arrives without a reload.
    browser.goto(&format!("{base}/events?filter=topo"));
    browser.wait_text(20, "the event stream followed", |t| t.contains("following"));
    let before = browser.eval("return document.querySelectorAll('tr.event').length;").as_u64().unwrap();
    let reply = ctl_ok(&c.nats.url, &["--json", "CreateKeyspace", "browsed"]);
    let seq = serde_json::from_str::<serde_json::Value>(&reply).unwrap()["seq"].as_u64().expect("seq in reply");
    browser.wait_text(20, "the KeyspaceCreated event", |t| t.contains("KeyspaceCreated") && t.contains("browsed"));
    let after = browser.eval("return document.querySelectorAll('tr.event').length;").as_u64().unwrap();
    assert!(after > before, "no new row: {before} -> {after}");
    browser.screenshot(&dir.join("2-events.png"));

    // Time travel: now the keyspace is there; the slider moved to the commit before its
    // creation shows the cluster without it.
    browser.goto(&format!("{base}/history"));
    let text = browser.wait_text(20, "the topology now", |t| t.contains("(now)"));
    assert!(text.contains("browsed"), "{text}");
    let max = browser.eval("return +document.getElementById('at').max;").as_u64().unwrap();
    assert!(max >= seq, "slider ends at {max}, before the keyspace's commit {seq}");
    browser.eval(&format!(
        "const s = document.getElementById('at'); s.value = {}; s.dispatchEvent(new Event('input')); s.dispatchEvent(new Event('change')); return 0;",
        seq - 1
    ));
    let text =
        browser.wait_text(20, "the cluster before the keyspace", |t| t.contains(&format!("after commit {}", seq - 1)));
    let keyspaces =
        browser.eval("return [...document.querySelectorAll('tr.keyspace td:first-child')].map(td => td.textContent);");
    let keyspaces: Vec<&str> = keyspaces.as_array().unwrap().iter().filter_map(|k| k.as_str()).collect();
    assert!(keyspaces.contains(&"customer"), "{keyspaces:?}\n{text}");
    assert!(!keyspaces.contains(&"browsed"), "the keyspace shows before it was created: {keyspaces:?}");
    assert!(browser.url().contains(&format!("at={}", seq - 1)), "{}", browser.url());
    // The commits listed end before the creation; one step later they include it.
    let listed =
        browser.eval("return [...document.querySelectorAll('tr.commit td:first-child')].map(td => +td.textContent);");
    let listed: Vec<u64> = listed.as_array().unwrap().iter().filter_map(|s| s.as_u64()).collect();
    assert_eq!(listed.first().copied(), Some(seq - 1), "newest commit listed first: {listed:?}");
    browser.screenshot(&dir.join("3-time-travel.png"));
    browser.goto(&format!("{base}/history?at={seq}&from={}", seq - 1));
    let text = browser.wait_text(20, "the creation commit", |t| t.contains(&format!("after commit {seq}")));
    assert!(text.contains("CreateKeyspace"), "{text}");
    let listed =
        browser.eval("return [...document.querySelectorAll('tr.commit td:first-child')].map(td => +td.textContent);");
    assert_eq!(listed, serde_json::json!([seq]), "only the creation between {} and {seq}", seq - 1);
    let keyspaces =
        browser.eval("return [...document.querySelectorAll('tr.keyspace td:first-child')].map(td => td.textContent);");
    assert!(keyspaces.as_array().unwrap().iter().any(|k| k == "browsed"), "{keyspaces}");

    // Positions folded forward from an earlier one show what GetTopology --at shows.
    for at in [5u64, 2, 9, seq - 2] {
        let (code, page) = http_get(c.node.http, &format!("/history?at={at}")).expect("history page");
        assert_eq!(code, 200, "{page}");
        let shown: Vec<&str> =
            page.split("<tr class=keyspace><td>").skip(1).filter_map(|r| r.split("</td>").next()).collect();
        let json = ctl_ok(&c.nats.url, &["--json", "GetTopology", "--at", &at.to_string()]);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let want: Vec<&str> = v["topology"]["keyspaces"].as_object().unwrap().keys().map(|k| k.as_str()).collect();
        assert_eq!(shown, want, "keyspaces after commit {at}");
        assert!(page.contains(&format!("after commit {at}")), "{page}");
    }

    // The other pages answer and link to each other.
    for path in ["/", "/workflows", "/keyspace/customer/shard/80-", "/keyspace/nope", "/tablet/zone1-0000000100"] {
        let (code, body) = http_get(c.node.http, path).expect("page");
        let want = if path.contains("nope") { 404 } else { 200 };
        assert_eq!(code, want, "{path}: {body}");
        assert!(body.contains("href=\"/events\""), "{path} has the navigation");
    }
    browser.goto(&format!("{base}/"));
    let text = browser.wait_text(20, "the overview", |t| t.contains("Nodes") && t.contains("n1"));
    assert!(text.contains("customer") && text.contains("commerce"), "{text}");
    browser.screenshot(&dir.join("4-overview.png"));
    eprintln!("screenshots in {}", dir.display());
}

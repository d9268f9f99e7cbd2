//! Routing rules as Vitess users apply them: `ApplyRoutingRules`, `ApplyKeyspaceRoutingRules`
//! and `GetRoutingRules` through `tessera ctl`, and the gateway following them.

use mysql_async::prelude::*;

use crate::harness::cluster::GatewayCluster;
use crate::harness::node::{ctl_err, ctl_ok};

#[tokio::test(flavor = "multi_thread")]
async fn keyspace_and_table_routing_rules_are_applied_printed_and_followed() {
    let c = GatewayCluster::start().await;
    let url = &c.nats.url;
    let pool = c.pool("root", "", Some("customer"));
    let mut conn = pool.get_conn().await.unwrap();
    conn.query_drop("insert into customer (customer_id, email) values (7001, 'a@x'), (7002, 'b@x')").await.unwrap();

    // `shop` is not a keyspace: a keyspace routing rule sends its tables to customer.
    ctl_ok(
        url,
        &[
            "ApplyKeyspaceRoutingRules",
            "--rules",
            r#"{"rules": [{"from_keyspace": "shop", "to_keyspace": "customer"}]}"#,
        ],
    );
    crate::harness::eventually(std::time::Duration::from_secs(20), "the gateway follows the rule", || {
        let p = pool.clone();
        async move {
            let mut c = p.get_conn().await.ok()?;
            let email: Option<String> =
                c.query_first("select email from shop.customer where customer_id = 7002").await.ok()?;
            (email.as_deref() == Some("b@x")).then_some(())
        }
    })
    .await;
    conn.query_drop("use shop").await.unwrap();
    let n: Option<i64> =
        conn.query_first("select count(*) from customer where customer_id in (7001, 7002)").await.unwrap();
    assert_eq!(n, Some(2));

    // Table rules, in Vitess's JSON, printed back by GetRoutingRules.
    ctl_ok(
        url,
        &[
            "ApplyRoutingRules",
            "--rules",
            r#"{"rules": [{"from_table": "customer@replica", "to_tables": ["customer.customer"]}]}"#,
        ],
    );
    let printed = ctl_ok(url, &["GetRoutingRules"]);
    assert!(printed.contains("customer@replica") && printed.contains("\"from_keyspace\": \"shop\""), "{printed}");

    // Bad rules are refused with the reason, and change nothing.
    let e = ctl_err(
        url,
        &["ApplyKeyspaceRoutingRules", "--rules", r#"{"rules": [{"from_keyspace": "a", "to_keyspace": "nope"}]}"#],
    );
    assert!(e.contains("`nope`, which does not exist"), "{e}");
    let e = ctl_err(
        url,
        &["ApplyRoutingRules", "--rules", r#"{"rules": [{"from_table": "t", "to_tables": ["customer.u"]}]}"#],
    );
    assert!(e.contains("renames"), "{e}");
    assert!(ctl_ok(url, &["GetRoutingRules"]).contains("\"from_keyspace\": \"shop\""));

    // Removing the rule: `shop` is unknown again.
    ctl_ok(url, &["ApplyKeyspaceRoutingRules", "--rules", r#"{"rules": []}"#]);
    crate::harness::eventually(std::time::Duration::from_secs(20), "the rule is gone from the gateway", || {
        let p = pool.clone();
        async move {
            let mut c = p.get_conn().await.ok()?;
            c.query_drop("select email from shop.customer where customer_id = 7002").await.err().map(|_| ())
        }
    })
    .await;
}

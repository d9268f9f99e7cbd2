//! Least-privilege roles as NATS permissions: what each kind of tessera process may publish
//! and subscribe to. `tessera up` writes them into its nats-server config; `tessera
//! nats-roles` prints them for any other NATS deployment.
//!
//! Each role reads replies on its own inbox prefix (`_INBOX.<role>.`), so a process of one
//! role cannot subscribe to the replies (result rows, admin answers) sent to another.

use std::fmt::Write;

use crate::protocol::subjects::{EVENTS_STREAM, TOPO_STREAM};

/// The lease bucket's stream (see [`crate::lease`]).
const LEASE_STREAM: &str = "KV_TESSERA_LEASES";
/// The transaction log's stream (see [`crate::twopc::log`]).
const TX_STREAM: &str = "KV_TESSERA_TX";

/// What a process is allowed to do on NATS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A node hosting tablets (and possibly a gateway): the trusted core. It serves admin
    /// commands, writes the topology, runs tablets and VReplication.
    #[default]
    Node,
    /// A node that only runs a MySQL gateway: calls tablets' query subjects and reads the
    /// topology; never admin, manage or topology-write subjects.
    Gateway,
    /// `tessera ctl`: publishes admin commands and reads the topology and events.
    Admin,
    /// `tessera events` and monitoring: reads events and tablet health, nothing else.
    Observer,
}

pub const ALL: [Role; 4] = [Role::Node, Role::Gateway, Role::Admin, Role::Observer];

/// The subjects a role may publish to and subscribe to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permissions {
    pub publish: Vec<String>,
    pub subscribe: Vec<String>,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Node => "node",
            Role::Gateway => "gateway",
            Role::Admin => "admin",
            Role::Observer => "observer",
        }
    }

    pub fn parse(s: &str) -> Result<Role, String> {
        ALL.into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| format!("unknown role `{s}`: expected node, gateway, admin or observer"))
    }

    /// The prefix of this role's reply subjects.
    pub fn inbox_prefix(self) -> String {
        format!("_INBOX.{}", self.name())
    }

    pub fn permissions(self) -> Permissions {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let inbox = format!("{}.>", self.inbox_prefix());
        match self {
            Role::Node => Permissions {
                publish: s(&[
                    "tessera.>",
                    "$JS.API.>",
                    "$JS.ACK.>",
                    "$KV.TESSERA_LEASES.>",
                    "$KV.TESSERA_SECRETS.>",
                    "$KV.TESSERA_TX.>",
                    // The backup object store (`[backup] storage = "nats"`).
                    "$O.>",
                    "_INBOX.>",
                ]),
                subscribe: s(&["tessera.>", "_INBOX.>"]),
            },
            Role::Gateway => {
                let mut publish = s(&[
                    "tessera.tablet.*.query",
                    "tessera.target.>",
                    "tessera.kill.>",
                    "tessera.bulk.>",
                    "tessera.node.>",
                    "tessera.events.node.>",
                    "$KV.TESSERA_LEASES.>",
                    // Two-phase commits: decisions recorded, concluded ones purged.
                    "$KV.TESSERA_TX.>",
                    "$JS.API.STREAM.PURGE.KV_TESSERA_TX",
                    "$JS.API.INFO",
                ]);
                publish
                    .extend([TOPO_STREAM, EVENTS_STREAM, LEASE_STREAM, TX_STREAM].into_iter().flat_map(stream_reader));
                Permissions {
                    publish,
                    subscribe: vec![
                        inbox,
                        "tessera.health.*".into(),
                        "tessera.node.*.*".into(),
                        "tessera.bulk.>".into(),
                    ],
                }
            }
            Role::Admin => {
                let mut publish = s(&["tessera.admin.>", "$JS.API.INFO"]);
                publish.extend([TOPO_STREAM, EVENTS_STREAM].into_iter().flat_map(stream_reader));
                Permissions { publish, subscribe: vec![inbox, "tessera.events.>".into(), "tessera.health.*".into()] }
            }
            Role::Observer => {
                let mut publish = s(&["$JS.API.INFO"]);
                publish.extend([TOPO_STREAM, EVENTS_STREAM].into_iter().flat_map(stream_reader));
                Permissions { publish, subscribe: vec![inbox, "tessera.events.>".into(), "tessera.health.*".into()] }
            }
        }
    }
}

/// The JetStream API subjects that read stream `s` (info, single messages, ordered
/// consumers) and nothing that changes it: no create, update, purge or delete of the stream.
fn stream_reader(s: &str) -> Vec<String> {
    [
        format!("$JS.API.STREAM.INFO.{s}"),
        format!("$JS.API.STREAM.MSG.GET.{s}"),
        format!("$JS.API.DIRECT.GET.{s}"),
        format!("$JS.API.DIRECT.GET.{s}.>"),
        format!("$JS.API.CONSUMER.CREATE.{s}"),
        format!("$JS.API.CONSUMER.CREATE.{s}.>"),
        format!("$JS.API.CONSUMER.INFO.{s}.*"),
        format!("$JS.API.CONSUMER.DELETE.{s}.*"),
        format!("$JS.API.CONSUMER.MSG.NEXT.{s}.*"),
    ]
    .into()
}

/// One user of the generated server config.
pub struct User<'a> {
    pub name: &'a str,
    pub password: &'a str,
    pub role: Role,
}

/// A nats-server `authorization { users = [...] }` block giving each user its role's
/// permissions. Replies to received requests are allowed to every role (`allow_responses`).
pub fn authorization_block(users: &[User<'_>]) -> String {
    let list = |v: &[String]| v.iter().map(|x| format!("\"{x}\"")).collect::<Vec<_>>().join(", ");
    let mut out = String::from("authorization {\n  users = [\n");
    for u in users {
        let p = u.role.permissions();
        // `$NAME` is a variable nats-server reads from its environment; it must stay unquoted.
        let password = if u.password.starts_with('$') { u.password.to_string() } else { format!("\"{}\"", u.password) };
        let _ = writeln!(
            out,
            "    {{ user: \"{}\", password: {}, permissions: {{\n      publish: {{ allow: [{}] }},\n      subscribe: {{ allow: [{}] }},\n      allow_responses: true\n    }} }}",
            u.name,
            password,
            list(&p.publish),
            list(&p.subscribe)
        );
    }
    out.push_str("  ]\n}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, subject: &str) -> bool {
        let (p, s): (Vec<_>, Vec<_>) = (pattern.split('.').collect(), subject.split('.').collect());
        for (i, tok) in p.iter().enumerate() {
            match *tok {
                ">" => return s.len() > i,
                "*" if i < s.len() => continue,
                t if s.get(i) == Some(&t) => continue,
                _ => return false,
            }
        }
        p.len() == s.len()
    }

    fn may_publish(role: Role, subject: &str) -> bool {
        role.permissions().publish.iter().any(|p| matches(p, subject))
    }

    #[test]
    fn each_role_reaches_its_subjects_only() {
        use crate::protocol::subjects as s;
        assert!(may_publish(Role::Gateway, &s::tablet("zone1-100", "query")));
        assert!(may_publish(Role::Gateway, &s::target("customer", "-80", "primary")));
        assert!(!may_publish(Role::Gateway, &s::tablet("zone1-100", "manage")));
        assert!(!may_publish(Role::Gateway, &s::admin("DeleteKeyspace")));
        assert!(!may_publish(Role::Gateway, &s::topo_keyspace("customer")));
        assert!(!may_publish(Role::Gateway, "$JS.API.STREAM.DELETE.TESSERA_TOPO"));
        assert!(may_publish(Role::Admin, &s::admin("DeleteKeyspace")));
        assert!(!may_publish(Role::Admin, &s::tablet("zone1-100", "query")));
        assert!(!may_publish(Role::Admin, "$JS.API.STREAM.PURGE.TESSERA_TOPO"));
        assert!(!may_publish(Role::Observer, &s::admin("GetKeyspaces")));
        assert!(may_publish(Role::Observer, "$JS.API.CONSUMER.CREATE.TESSERA_EVENTS"));
        assert!(may_publish(Role::Node, &s::topo_keyspace("customer")));
        for r in [Role::Gateway, Role::Admin, Role::Observer] {
            assert!(!r.permissions().subscribe.iter().any(|p| matches(p, "_INBOX.node.abc.1")), "{r:?}");
        }
    }

    #[test]
    fn the_block_lists_every_user() {
        let b = authorization_block(&[
            User { name: "n", password: "p1", role: Role::Node },
            User { name: "o", password: "p2", role: Role::Observer },
        ]);
        assert!(b.contains("user: \"n\", password: \"p1\""));
        assert!(b.contains("\"tessera.events.>\""));
        assert_eq!(Role::parse("gateway"), Ok(Role::Gateway));
        assert!(Role::parse("root").is_err());
    }
}

//! Session targets: `use ks`, `use ks/-80`, `` use `ks:-80` ``, `use ks@replica`, `use ks/-80@rdonly`.

use crate::protocol::topology::TabletType;

use super::error::GatewayError;

/// Where a session's statements go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub keyspace: Option<String>,
    /// An explicit shard: statements go there as they are, without routing.
    pub shard: Option<String>,
    pub tablet_type: TabletType,
}

impl Default for Target {
    fn default() -> Self {
        Target { keyspace: None, shard: None, tablet_type: TabletType::Primary }
    }
}

impl Target {
    /// Parses a target (what follows `use`, or the database of a connection).
    pub fn parse(s: &str) -> Result<Target, GatewayError> {
        let s = s.trim().trim_end_matches(';').trim().trim_matches('`').trim_matches('"');
        let (rest, tablet_type) = match s.split_once('@') {
            Some((r, t)) => {
                let tt: TabletType = t.parse().map_err(GatewayError::Syntax)?;
                if !matches!(tt, TabletType::Primary | TabletType::Replica | TabletType::Rdonly) {
                    return Err(GatewayError::Syntax(format!(
                        "cannot target tablet type `{tt}`; use primary, replica or rdonly"
                    )));
                }
                (r, tt)
            }
            None => (s, TabletType::Primary),
        };
        let (ks, shard) = match rest.split_once(['/', ':']) {
            Some((k, sh)) => (k, Some(sh.to_string())),
            None => (rest, None),
        };
        if let Some(sh) = &shard {
            crate::vindex::keyrange::KeyRange::parse_shard_name(sh).map_err(|e| GatewayError::Syntax(e.to_string()))?;
        }
        Ok(Target { keyspace: (!ks.is_empty()).then(|| ks.to_string()), shard, tablet_type })
    }

    /// How the target reads back (`select database()`).
    pub fn display(&self) -> Option<String> {
        let ks = self.keyspace.as_ref()?;
        let mut s = ks.clone();
        if let Some(sh) = &self.shard {
            s.push('/');
            s.push_str(sh);
        }
        if self.tablet_type != TabletType::Primary {
            s.push('@');
            s.push_str(self.tablet_type.as_str());
        }
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vitess_targets() {
        assert_eq!(Target::parse("customer").unwrap().keyspace.as_deref(), Some("customer"));
        let t = Target::parse("`customer:-80`").unwrap();
        assert_eq!((t.keyspace.as_deref(), t.shard.as_deref()), (Some("customer"), Some("-80")));
        let t = Target::parse("customer/-80@rdonly").unwrap();
        assert_eq!((t.shard.as_deref(), t.tablet_type), (Some("-80"), TabletType::Rdonly));
        assert_eq!(Target::parse("customer@replica").unwrap().tablet_type, TabletType::Replica);
        assert_eq!(Target::parse("customer@replica").unwrap().display().as_deref(), Some("customer@replica"));
        assert!(Target::parse("customer/x-80").is_err());
        assert!(Target::parse("customer@spare").is_err());
        assert!(Target::parse("customer@nope").is_err());
    }
}

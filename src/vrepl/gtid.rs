//! MariaDB GTID positions: `domain-server-sequence` per replication domain, comma-separated
//! (`0-1-12,1-5-3`). A position is a set of per-domain high-water marks; positions compare
//! domain by domain.

use std::collections::BTreeMap;
use std::fmt;

/// One MariaDB GTID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gtid {
    pub domain: u32,
    pub server: u32,
    pub seq: u64,
}

impl fmt::Display for Gtid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.domain, self.server, self.seq)
    }
}

impl Gtid {
    pub fn parse(s: &str) -> Result<Gtid, String> {
        let bad = || format!("`{s}` is not a MariaDB GTID (domain-server-sequence, like 0-1-12)");
        let mut parts = s.trim().splitn(3, '-');
        let (Some(d), Some(sv), Some(n)) = (parts.next(), parts.next(), parts.next()) else { return Err(bad()) };
        Ok(Gtid {
            domain: d.parse().map_err(|_| bad())?,
            server: sv.parse().map_err(|_| bad())?,
            seq: n.parse().map_err(|_| bad())?,
        })
    }
}

/// A replication position: the last GTID seen per domain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GtidPos {
    domains: BTreeMap<u32, Gtid>,
}

impl GtidPos {
    /// Parses `0-1-12,1-5-3`; the empty string is the empty position.
    pub fn parse(s: &str) -> Result<GtidPos, String> {
        let mut pos = GtidPos::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let g = Gtid::parse(part)?;
            if pos.domains.insert(g.domain, g).is_some() {
                return Err(format!("position `{s}` names domain {} twice", g.domain));
            }
        }
        Ok(pos)
    }

    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
    }

    /// Records that `g` was applied.
    pub fn advance(&mut self, g: Gtid) {
        self.domains.insert(g.domain, g);
    }

    /// True when everything in `other` is at or before this position.
    pub fn contains(&self, other: &GtidPos) -> bool {
        other.domains.values().all(|o| self.domains.get(&o.domain).is_some_and(|m| m.seq >= o.seq))
    }

    /// True when `g` is at or before this position (already applied).
    pub fn includes(&self, g: &Gtid) -> bool {
        self.domains.get(&g.domain).is_some_and(|m| m.seq >= g.seq)
    }
}

impl fmt::Display for GtidPos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for g in self.domains.values() {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(f, "{g}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let p = GtidPos::parse("1-5-3, 0-1-12").unwrap();
        assert_eq!(p.to_string(), "0-1-12,1-5-3");
        assert!(GtidPos::parse("").unwrap().is_empty());
        assert!(GtidPos::parse("0-1").is_err());
        assert!(GtidPos::parse("0-1-x").is_err());
        assert!(GtidPos::parse("0-1-2,0-1-3").is_err());
    }

    #[test]
    fn compares_per_domain() {
        let a = GtidPos::parse("0-1-12,1-5-3").unwrap();
        assert!(a.contains(&GtidPos::parse("0-1-12").unwrap()));
        assert!(a.contains(&GtidPos::parse("0-2-11,1-5-3").unwrap()));
        assert!(!a.contains(&GtidPos::parse("0-1-13").unwrap()));
        assert!(!a.contains(&GtidPos::parse("2-1-1").unwrap()));
        assert!(a.contains(&GtidPos::default()));
        let mut b = a.clone();
        b.advance(Gtid { domain: 0, server: 1, seq: 13 });
        assert!(b.contains(&GtidPos::parse("0-1-13").unwrap()));
        assert!(b.includes(&Gtid { domain: 1, server: 5, seq: 2 }));
        assert!(!b.includes(&Gtid { domain: 2, server: 5, seq: 1 }));
    }
}

//! The local cluster's NATS credentials: `tessera up` generates one user per role (see
//! [`crate::nats_roles`]) with a random password, keeps each in
//! `<home>/credentials/nats-<role>.toml` (mode 0600, the directory 0700), and writes them with
//! their permissions into the nats-server config it starts. `ctl` and `events` read theirs
//! from there (see [`super::NatsAuthArgs::resolve`]).

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::nats::{credentials_file, local_credentials, NatsAuth};
use crate::nats_roles::{authorization_block, Role, User, ALL};

/// Each role's credentials, generated on first use and kept across `up`s.
pub struct LocalCredentials {
    users: Vec<(Role, NatsAuth)>,
}

impl LocalCredentials {
    pub fn ensure(home: &Path) -> anyhow::Result<LocalCredentials> {
        let dir = home.join("credentials");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        let mut users = Vec::new();
        for role in ALL {
            let auth = match local_credentials(home, role)? {
                Some(a) if !a.user.is_empty() && !a.password.is_empty() => a,
                _ => {
                    let auth = NatsAuth { user: role.name().into(), password: secret(), ..Default::default() };
                    let text = format!(
                        "# NATS credentials of the `{}` role, written by `tessera up`.\nuser = \"{}\"\npassword = \"{}\"\n",
                        role.name(),
                        auth.user,
                        auth.password
                    );
                    write_private(&credentials_file(home, role), &text)?;
                    auth
                }
            };
            users.push((role, auth));
        }
        Ok(LocalCredentials { users })
    }

    pub fn of(&self, role: Role) -> NatsAuth {
        self.users.iter().find(|(r, _)| *r == role).map(|(_, a)| a.clone()).unwrap_or_default()
    }

    /// The nats-server `authorization` block with every role's user.
    pub fn authorization(&self) -> String {
        let users: Vec<User<'_>> =
            self.users.iter().map(|(role, a)| User { name: &a.user, password: &a.password, role: *role }).collect();
        authorization_block(&users)
    }
}

/// 256 random bits as hex (two v4 UUIDs: 122 random bits each, from the OS).
pub fn secret() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

/// Writes `text` to `path` readable by its owner only (created 0600, and made 0600 if it was
/// there already).
pub fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(text.as_bytes()).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_private_and_kept() {
        let dir = std::env::temp_dir().join(format!("tessera-creds-{}", uuid::Uuid::new_v4().simple()));
        let first = LocalCredentials::ensure(&dir).expect("generated");
        let again = LocalCredentials::ensure(&dir).expect("read back");
        assert_eq!(first.of(Role::Admin).password, again.of(Role::Admin).password);
        assert_ne!(first.of(Role::Admin).password, first.of(Role::Node).password);
        let mode = std::fs::metadata(credentials_file(&dir, Role::Node)).expect("file").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(first.authorization().contains("user: \"observer\""));
        let _ = std::fs::remove_dir_all(dir);
    }
}

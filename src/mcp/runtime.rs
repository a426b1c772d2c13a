//! The runtime file through which `taskhook mcp` finds a running `serve` or `demo` without being
//! handed its inspector token. `serve`/`demo` write it next to their database
//! (`taskhook.db` → `taskhook.db-inspector`) once the inspector is bound, and remove it on a
//! clean shutdown; it holds the inspector's URL and its token.
//!
//! The token is as good as the inspector itself (it can accept reservations), so the file is
//! created readable by its owner only (`0600`, by `tempfile`) under a temporary name and renamed
//! into place: it is never visible half-written or with looser permissions, and a symlink
//! planted at its path is replaced rather than followed. A file that others can read is
//! refused when read.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::inspector::guard::InspectorToken;

/// What the file says: where the inspector is and its token. Debug never shows the token.
#[derive(Clone, Serialize, Deserialize)]
pub struct Runtime {
    /// `http://HOST:PORT` of the inspector.
    pub inspector: String,
    pub token: String,
    /// The process that wrote it, to tell a person which run it belongs to.
    pub pid: u32,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("inspector", &self.inspector)
            .field("token", &"***")
            .field("pid", &self.pid)
            .finish()
    }
}

/// The runtime file of the database at `db`.
pub fn path_for(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push("-inspector");
    db.with_file_name(name)
}

/// The URL a client on this machine reaches the inspector at: an unspecified bind address
/// (`0.0.0.0`, `[::]`) is reached through loopback, which the guard's Host allowlist accepts.
pub(super) fn reachable_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// A written runtime file; dropping it (at the end of a clean shutdown) removes the file.
#[derive(Debug)]
pub struct RuntimeFile {
    path: PathBuf,
    token: InspectorToken,
}

impl RuntimeFile {
    /// Writes the runtime file for the database at `db`. Best effort: without it `taskhook mcp`
    /// needs the token given explicitly, which is no reason to refuse to serve.
    pub fn write(db: &Path, inspector: SocketAddr, token: &InspectorToken) -> Option<Self> {
        let path = path_for(db);
        let runtime = Runtime {
            inspector: reachable_url(inspector),
            token: token.expose().to_owned(),
            pid: std::process::id(),
        };
        match write_file(&path, &runtime) {
            Ok(()) => Some(Self {
                path,
                token: token.clone(),
            }),
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %err, "cannot write the runtime file `taskhook mcp` reads");
                None
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RuntimeFile {
    fn drop(&mut self) {
        remove(&self.path, &self.token);
    }
}

fn write_file(path: &Path, runtime: &Runtime) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut file = tempfile::Builder::new()
        .prefix(".taskhook-inspector")
        .tempfile_in(dir)?;
    serde_json::to_writer(&mut file, runtime)?;
    file.persist(path).map_err(|err| err.error)?;
    Ok(())
}

/// Why a runtime file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "{path} is readable by other users; taskhook writes it with mode 0600, so it was not written by taskhook: remove it"
    )]
    TooOpen { path: String },
    #[error("{path} is not a taskhook runtime file; remove it")]
    Malformed { path: String },
}

/// Reads the runtime file of the database at `db`: `None` when there is none (no serve started
/// from there is running, or it stopped cleanly).
pub fn read(db: &Path) -> Result<Option<Runtime>, RuntimeError> {
    let path = path_for(db);
    let shown = path.display().to_string();
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(RuntimeError::Read {
                path: shown,
                source,
            });
        }
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path)
            .map_err(|source| RuntimeError::Read {
                path: shown.clone(),
                source,
            })?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(RuntimeError::TooOpen { path: shown });
        }
    }
    let runtime: Runtime =
        serde_json::from_slice(&text).map_err(|_| RuntimeError::Malformed { path: shown })?;
    Ok(Some(runtime))
}

/// Removes the runtime file at `path` if this process wrote it with `token`: otherwise another
/// serve started on the same database since then, and the file is its now.
pub fn remove(path: &Path, token: &InspectorToken) {
    let ours = std::fs::read(path)
        .ok()
        .and_then(|text| serde_json::from_slice::<Runtime>(&text).ok())
        .is_some_and(|runtime| {
            runtime.token == token.expose() && runtime.pid == std::process::id()
        });
    if ours && let Err(err) = std::fs::remove_file(path) {
        tracing::warn!(path = %path.display(), error = %err, "cannot remove the runtime file");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_sits_next_to_the_database() {
        assert_eq!(
            path_for(Path::new("dir/taskhook.db")),
            Path::new("dir/taskhook.db-inspector")
        );
        assert_eq!(
            path_for(Path::new("taskhook-demo.db")),
            Path::new("taskhook-demo.db-inspector")
        );
    }

    #[test]
    fn unspecified_bind_addresses_are_reached_through_loopback() {
        assert_eq!(
            reachable_url("0.0.0.0:4040".parse().unwrap()),
            "http://127.0.0.1:4040"
        );
        assert_eq!(
            reachable_url("[::]:4040".parse().unwrap()),
            "http://[::1]:4040"
        );
        assert_eq!(
            reachable_url("127.0.0.1:5050".parse().unwrap()),
            "http://127.0.0.1:5050"
        );
    }

    #[test]
    fn written_owner_only_read_back_and_removed_only_by_its_writer() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        let token = InspectorToken::fixed("runtime-token-0123456789").unwrap();
        let file = RuntimeFile::write(&db, "127.0.0.1:4040".parse().unwrap(), &token).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(file.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let runtime = read(&db).unwrap().unwrap();
        assert_eq!(runtime.inspector, "http://127.0.0.1:4040");
        assert_eq!(runtime.token, token.expose());
        assert!(!format!("{runtime:?}").contains(token.expose()));

        // A later run on the same database took the file over: the first one leaves it.
        let later = InspectorToken::fixed("later-token-0123456789ab").unwrap();
        let second = RuntimeFile::write(&db, "127.0.0.1:4050".parse().unwrap(), &later).unwrap();
        drop(file);
        assert_eq!(read(&db).unwrap().unwrap().token, later.expose());
        drop(second);
        assert!(read(&db).unwrap().is_none());
    }

    #[cfg(unix)]
    #[test]
    fn a_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        let path = path_for(&db);
        std::fs::write(
            &path,
            r#"{"inspector":"http://127.0.0.1:1","token":"x","pid":1}"#,
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(read(&db), Err(RuntimeError::TooOpen { .. })));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(read(&db).unwrap().is_some());
        std::fs::write(&path, "not json").unwrap();
        assert!(matches!(read(&db), Err(RuntimeError::Malformed { .. })));
    }
}

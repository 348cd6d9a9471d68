//! A real nginx for tests, run in the foreground from a temporary prefix.
//!
//! [`Nginx::spawn`] takes a whole main configuration (`events {}`, `http { ... }`);
//! [`Nginx::with_server_blocks`] takes only `server { ... }` blocks and wraps them in one.
//! Everything nginx writes (pid file, temporary files, logs) goes into the prefix, a
//! temporary folder removed on drop, so nginx runs as any user and touches nothing under
//! `/var`. Relative paths in the configuration resolve against that prefix.
//!
//! The command line sets `daemon off`, `pid` and, when the tests run as root, `user root`
//! (workers would otherwise run as `nobody`, who cannot enter the private prefix): a
//! configuration given to [`Nginx::spawn`] must not set them. Its `http` block should
//! `include` [`TEMP_PATHS_FILE`], which the prefix holds, so that request bodies and
//! proxied responses are buffered in the prefix rather than in `/var/lib/nginx`.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, geteuid};
use tempfile::TempDir;
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use tokio::time::{sleep, timeout};

use crate::INSTALL_HINT;
use crate::output::{Transcript, debug_as_message, forward};

/// Where Debian installs nginx; `PARASOL_TEST_NGINX` overrides it.
const DEFAULT_BINARY: &str = "/usr/sbin/nginx";

/// How long nginx may take to accept connections on every port it was given.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a dropped nginx may take to stop before its process group is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// The file in the prefix with the `*_temp_path` directives, for an `http` block.
pub const TEMP_PATHS_FILE: &str = "temp_paths.conf";

/// The temporary paths nginx would otherwise create under `/var/lib/nginx`, relative to
/// the prefix.
const TEMP_PATHS: &str = "client_body_temp_path client_body_temp;
proxy_temp_path proxy_temp;
fastcgi_temp_path fastcgi_temp;
uwsgi_temp_path uwsgi_temp;
scgi_temp_path scgi_temp;
";

/// Why nginx could not be started.
#[derive(thiserror::Error)]
pub enum NginxError {
    /// The nginx binary is not there.
    #[error("nginx is not installed at {path}: {INSTALL_HINT}")]
    NotInstalled {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The prefix folder or a file in it could not be written.
    #[error("could not prepare the nginx prefix folder")]
    Prefix(#[source] std::io::Error),
    /// nginx could not be run.
    #[error("could not run nginx")]
    Run(#[source] std::io::Error),
    /// `nginx -t` rejected the configuration.
    #[error("nginx rejected the configuration:\n{stderr}")]
    Config {
        /// What `nginx -t` wrote.
        stderr: String,
    },
    /// nginx stopped before it accepted connections.
    #[error("nginx exited before it was ready; it wrote:\n{stderr}")]
    Exited {
        /// Its last lines on standard error.
        stderr: String,
    },
    /// Something already accepts connections on a port nginx was to listen on, so that
    /// port could not tell when nginx is ready.
    #[error("port {port} is already in use")]
    PortInUse {
        /// The port.
        port: u16,
    },
    /// A port did not accept connections in time.
    #[error("nginx did not accept connections on port {port} in time; it wrote:\n{stderr}")]
    Timeout {
        /// The port that stayed closed.
        port: u16,
        /// Its last lines on standard error.
        stderr: String,
    },
}

impl std::fmt::Debug for NginxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        debug_as_message(self, f)
    }
}

/// A running nginx, stopped when dropped.
#[derive(Debug)]
pub struct Nginx {
    child: Child,
    prefix: TempDir,
    ports: Vec<u16>,
    stderr: Transcript,
    stderr_done: Option<JoinHandle<()>>,
}

impl Nginx {
    /// Starts nginx with `config`, a whole main configuration file, and waits until each of
    /// `ports` accepts connections on 127.0.0.1.
    ///
    /// The configuration is checked with `nginx -t` first; its complaint is in the error.
    pub async fn spawn(config: &str, ports: &[u16]) -> Result<Self, NginxError> {
        let binary = binary();
        if !binary.is_file() {
            return Err(NginxError::NotInstalled { path: binary });
        }
        refuse_taken_ports(ports).await?;
        let prefix = write_prefix(config)?;
        check(&binary, prefix.path()).await?;

        let mut child = command(&binary, prefix.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(NginxError::Run)?;
        let stderr = Transcript::default();
        let stderr_done = child
            .stderr
            .take()
            .map(|pipe| forward(pipe, "nginx", stderr.clone()));

        let mut nginx = Self {
            child,
            prefix,
            ports: ports.to_vec(),
            stderr,
            stderr_done,
        };
        nginx.wait_until_ready().await?;
        Ok(nginx)
    }

    /// Starts nginx with `servers`, one or more `server { ... }` blocks, inside a minimal
    /// main configuration: one worker, no access log, temporary paths in the prefix.
    pub async fn with_server_blocks(servers: &str, ports: &[u16]) -> Result<Self, NginxError> {
        Self::spawn(&wrap_server_blocks(servers), ports).await
    }

    /// The prefix folder: where the configuration, the logs and any files a test wants
    /// nginx to serve can live.
    pub fn prefix(&self) -> &Path {
        self.prefix.path()
    }

    /// `http://127.0.0.1:<port>` for the first port given at start, without a slash.
    pub fn url(&self) -> String {
        let port = self.ports.first().copied().unwrap_or(80);
        format!("http://127.0.0.1:{port}")
    }

    /// The last lines nginx wrote to its error log (standard error).
    pub fn error_log(&self) -> String {
        self.stderr.text()
    }

    /// Polls every port until each accepts a connection, noticing an nginx that exits.
    async fn wait_until_ready(&mut self) -> Result<(), NginxError> {
        let deadline = Instant::now() + START_TIMEOUT;
        let mut waiting = self.ports.clone();
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Err(NginxError::Exited {
                    stderr: self.exit_log().await,
                });
            }
            let mut still_waiting = Vec::new();
            for port in waiting {
                if TcpStream::connect((Ipv4Addr::LOCALHOST, port))
                    .await
                    .is_err()
                {
                    still_waiting.push(port);
                }
            }
            waiting = still_waiting;
            let Some(&port) = waiting.first() else {
                return Ok(());
            };
            if Instant::now() >= deadline {
                let stderr = self.stderr.text();
                return Err(NginxError::Timeout { port, stderr });
            }
            sleep(Duration::from_millis(20)).await;
        }
    }

    /// The error log once nginx has exited, after its last lines have been read.
    async fn exit_log(&mut self) -> String {
        if let Some(done) = self.stderr_done.take() {
            let _ = timeout(Duration::from_secs(1), done).await;
        }
        self.stderr.text()
    }
}

impl Drop for Nginx {
    /// Asks the master for a fast shutdown (SIGTERM), which stops the workers too, and
    /// waits for it; kills master and workers if it takes too long. Killing only the
    /// master (as `kill_on_drop` would) leaves its workers serving the port.
    ///
    /// nginx stays in the test's process group, so that an interrupted test run (Ctrl-C)
    /// stops it as well: nginx takes SIGINT as a fast shutdown too.
    fn drop(&mut self) {
        let Some(pid) = self.child.id().and_then(|id| i32::try_from(id).ok()) else {
            return;
        };
        let pid = Pid::from_raw(pid);
        if kill(pid, Signal::SIGTERM).is_err() {
            return;
        }
        // Blocking here is brief: nginx stops in milliseconds.
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Ok(Some(_)) | Err(_) => return,
            }
        }
        for worker in children(pid) {
            let _ = kill(worker, Signal::SIGKILL);
        }
        let _ = kill(pid, Signal::SIGKILL);
    }
}

/// The processes `pid` started, as Linux lists them.
fn children(pid: Pid) -> Vec<Pid> {
    let path = format!("/proc/{pid}/task/{pid}/children");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|child| child.parse().ok())
        .map(Pid::from_raw)
        .collect()
}

/// Fails for a port that already accepts connections: it could not tell when nginx is
/// ready, and nginx could not listen on it.
async fn refuse_taken_ports(ports: &[u16]) -> Result<(), NginxError> {
    for &port in ports {
        if TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .is_ok()
        {
            return Err(NginxError::PortInUse { port });
        }
    }
    Ok(())
}

/// Wraps `servers` in a minimal main configuration.
fn wrap_server_blocks(servers: &str) -> String {
    format!(
        "worker_processes 1;\n\
         events {{\n    worker_connections 256;\n}}\n\
         http {{\n    include {TEMP_PATHS_FILE};\n    access_log off;\n\n{servers}\n}}\n"
    )
}

fn binary() -> PathBuf {
    std::env::var_os("PARASOL_TEST_NGINX")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_BINARY))
}

/// A new prefix folder holding `nginx.conf`, the temporary paths file and `logs/`, which
/// nginx wants to exist even when it logs elsewhere.
fn write_prefix(config: &str) -> Result<TempDir, NginxError> {
    let prefix = tempfile::Builder::new()
        .prefix("parasol-nginx-")
        .tempdir()
        .map_err(NginxError::Prefix)?;
    let path = prefix.path();
    std::fs::create_dir(path.join("logs")).map_err(NginxError::Prefix)?;
    std::fs::write(path.join(TEMP_PATHS_FILE), TEMP_PATHS).map_err(NginxError::Prefix)?;
    std::fs::write(path.join("nginx.conf"), config).map_err(NginxError::Prefix)?;
    Ok(prefix)
}

/// nginx's command line for the configuration in `prefix`.
fn command(binary: &Path, prefix: &Path) -> Command {
    let pid = prefix.join("nginx.pid");
    let mut globals = format!("daemon off; pid {};", pid.display());
    if geteuid().is_root() {
        globals.push_str(" user root;");
    }

    let mut command = Command::new(binary);
    command
        // nginx joins the prefix and relative paths without adding a slash.
        .arg("-p")
        .arg(format!("{}/", prefix.display()))
        .arg("-c")
        .arg(prefix.join("nginx.conf"))
        .args(["-e", "stderr", "-g", &globals])
        .stdin(Stdio::null());
    command
}

/// Runs `nginx -t`, returning its complaint when the configuration does not pass.
async fn check(binary: &Path, prefix: &Path) -> Result<(), NginxError> {
    let output = command(binary, prefix)
        .arg("-t")
        .arg("-q")
        .output()
        .await
        .map_err(NginxError::Run)?;
    if output.status.success() {
        return Ok(());
    }
    Err(NginxError::Config {
        stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn server_blocks_sit_inside_the_http_block() {
        let config = wrap_server_blocks("server { listen 127.0.0.1:1; }");

        let http = config.find("http {").unwrap();
        let server = config.find("server {").unwrap();
        assert!(http < server, "{config}");
        assert!(config.contains("include temp_paths.conf;"), "{config}");
    }
}

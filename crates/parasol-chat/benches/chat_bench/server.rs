//! The chat server in a process of its own, so that its resident memory can be read
//! apart from the clients' and the fake model's: the bench runs itself again with
//! [`ROLE_VAR`] set, and that child serves the chat on port 0 and prints the port.

use std::future::Future;
use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parasol_agent::model::{OpenAiConfig, OpenAiModel, RetryPolicy};
use parasol_agent::{Agent, AgentConfig, ToolSet};
use parasol_chat::store::{DatabaseLocation, Store};
use parasol_chat::{ChatConfig, ChatServer, VerifierSource};
use parasol_identity::KeyPair;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Set to `server` in the child.
pub const ROLE_VAR: &str = "PARASOL_BENCH_ROLE";
const MODEL_URL_VAR: &str = "PARASOL_BENCH_MODEL_URL";
const KEY_FILE_VAR: &str = "PARASOL_BENCH_KEY_FILE";
const DATABASE_VAR: &str = "PARASOL_BENCH_DATABASE";

/// The issuer the bench's tokens carry and the server expects.
pub const ISSUER: &str = "http://gate.bench";
/// The audience likewise: the chat server's default.
pub const AUDIENCE: &str = "parasol-chat";

/// The child's side: serves the chat until its standard input closes.
pub fn serve_child() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(serve());
}

async fn serve() {
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is unset"));
    let database = DatabaseLocation::Sqlite(PathBuf::from(var(DATABASE_VAR)));
    let store = Store::connect(&database).await.unwrap();

    let mut model = OpenAiConfig::new("bench-model");
    model.base_url = var(MODEL_URL_VAR);
    model.retry = RetryPolicy {
        max_retries: 0,
        ..RetryPolicy::default()
    };
    let model = OpenAiModel::new(model).unwrap();
    let agent = Agent::new(Arc::new(model), ToolSet::new(), AgentConfig::default());

    let mut config = ChatConfig::default();
    config.identity.key_file = Some(PathBuf::from(var(KEY_FILE_VAR)));
    config.identity.issuer = Some(ISSUER.to_owned());
    // One message per person per run, but runs follow each other within the minute and
    // the memory figure wants a thousand answers at once.
    config.limits.messages_per_minute = u32::MAX;
    config.limits.max_concurrent_generations = u32::MAX;
    let source = VerifierSource::Configured;
    let server = ChatServer::build(&config, store, Arc::new(agent), Vec::new(), source)
        .await
        .unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("{}", listener.local_addr().unwrap().port());
    server.serve(listener, stdin_closed()).await.unwrap();
}

/// Resolves when standard input reaches its end: when the bench closes it, or dies.
fn stdin_closed() -> impl Future<Output = ()> + Send + 'static {
    let (closed, on_close) = oneshot::channel();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        let _ = closed.send(());
    });
    async move {
        let _ = on_close.await;
    }
}

/// The parent's handle on the child: where it listens, and how much memory it holds.
#[derive(Debug)]
pub struct ServerProcess {
    pub base: String,
    child: Child,
    stdin: Option<ChildStdin>,
    _stdout: BufReader<ChildStdout>,
    _dir: TempDir,
}

impl ServerProcess {
    /// Starts a chat server answering with the model at `model_url` and accepting
    /// tokens signed by `key`, on a new SQLite database.
    pub fn start(model_url: &str, key: &KeyPair) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("gate.pub.pem");
        std::fs::write(&key_file, key.public_key().to_public_key_pem().unwrap()).unwrap();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(ROLE_VAR, "server")
            .env(MODEL_URL_VAR, model_url)
            .env(KEY_FILE_VAR, &key_file)
            .env(DATABASE_VAR, dir.path().join("chat.db"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();

        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut port = String::new();
        stdout.read_line(&mut port).unwrap();
        let port: u16 = port
            .trim()
            .parse()
            .expect("the chat server printed no port");
        Self {
            base: format!("http://127.0.0.1:{port}"),
            stdin: child.stdin.take(),
            child,
            _stdout: stdout,
            _dir: dir,
        }
    }

    /// The child's resident memory (`VmRSS`), in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .unwrap();
        line.trim().trim_end_matches("kB").trim().parse().unwrap()
    }

    /// The CPU time the child's threads have used so far, to the nanosecond (the first
    /// field of each thread's `schedstat`). Threads that have ended no longer count, but
    /// the server's run as long as it does: the runtime's workers and SQLite's.
    pub fn cpu_time(&self) -> Duration {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.child.id())).unwrap();
        let nanos: u64 = tasks
            .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok())
            .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
            .sum();
        Duration::from_nanos(nanos)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // Closing its input shuts the server down gracefully; a kill is the fallback.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

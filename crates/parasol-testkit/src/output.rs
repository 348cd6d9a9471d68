//! What a child process writes: forwarded to the test's standard error and kept for
//! errors; and how this crate's errors print.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::task::JoinHandle;

/// How many of a child's last lines an error message quotes.
const KEPT_LINES: usize = 60;

/// The last lines a child process wrote, shared with the task that reads them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Transcript(Arc<Mutex<VecDeque<String>>>);

impl Transcript {
    fn push(&self, line: String) {
        if let Ok(mut lines) = self.0.lock() {
            if lines.len() == KEPT_LINES {
                lines.pop_front();
            }
            lines.push_back(line);
        }
    }

    /// The kept lines, one per line.
    pub(crate) fn text(&self) -> String {
        self.0
            .lock()
            .map(|lines| lines.iter().cloned().collect::<Vec<_>>().join("\n"))
            .unwrap_or_default()
    }

    /// Whether any kept line contains `needle`.
    pub(crate) fn contains(&self, needle: &str) -> bool {
        self.0
            .lock()
            .map(|lines| lines.iter().any(|line| line.contains(needle)))
            .unwrap_or(false)
    }
}

/// Copies each line `reader` yields to standard error behind `prefix`, and into
/// `transcript`, until the stream ends.
///
/// `eprintln!` rather than an inherited descriptor, so that the test harness captures the
/// lines and shows them only for a failing test. The task ends with the stream.
pub(crate) fn forward<R>(reader: R, prefix: &'static str, transcript: Transcript) -> JoinHandle<()>
where
    R: AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut lines = BufReader::new(reader).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            eprintln!("[{prefix}] {line}");
            transcript.push(line);
        }
    })
}

/// Writes `error` and its causes as its `Debug` form.
///
/// Tests `unwrap` this crate's errors, which prints `Debug`: a derived one would hide the
/// message (with its hint to run the install script, or nginx's complaint) behind struct
/// syntax.
pub(crate) fn debug_as_message(
    error: &dyn std::error::Error,
    f: &mut std::fmt::Formatter<'_>,
) -> std::fmt::Result {
    write!(f, "{error}")?;
    let mut source = error.source();
    while let Some(cause) = source {
        write!(f, ": {cause}")?;
        source = cause.source();
    }
    Ok(())
}

//! Ports on the loopback interface: finding a free one and waiting for a server on one.

use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::{Instant, sleep};

/// A TCP port on 127.0.0.1 that nothing listens on right now.
///
/// The port is free when this returns, not reserved: another process may take it before
/// the caller binds it, which on a test machine is rare enough to accept.
pub fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// Waits until a connection to `127.0.0.1:port` succeeds, or `timeout` has passed.
///
/// Returns whether the port accepted a connection.
pub async fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .is_ok()
        {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        sleep(Duration::from_millis(20)).await;
    }
}

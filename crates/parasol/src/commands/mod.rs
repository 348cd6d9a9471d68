//! One module per subcommand.

pub mod ask;
pub mod chat;
pub mod config;
pub mod gate;
pub mod keys;
pub mod serve;
pub mod users;

/// Resolves on Ctrl-C or SIGTERM, so that servers finish their requests and stop.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let terminate = async {
        match signal(SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    tracing::info!("stopping");
}

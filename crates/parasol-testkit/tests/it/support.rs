//! Helpers the tests share: tiny HTTP servers and an OpenID provider set up for them.

use axum::Router;
use parasol_testkit::{Client, OidcProvider, ProviderSetup, TokenAuthMethod, User, free_port};
use tokio::net::TcpListener;

pub const CLIENT_ID: &str = "parasol";
pub const CLIENT_SECRET: &str = "parasol-test-secret";
pub const POST_CLIENT_ID: &str = "parasol-post";

/// Serves `app` on a free port of 127.0.0.1 for as long as the test runs.
pub async fn serve(app: Router) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    port
}

/// A provider knowing Alice (staff, admins; any password), Bob (password `hunter2`), and
/// two clients, one per authentication
/// method, with a redirect URI on a port nothing listens on: tests stop at that hop.
pub async fn provider() -> (OidcProvider, String) {
    let app = format!("http://127.0.0.1:{}", free_port().unwrap());
    let callback = format!("{app}/oauth2/callback");
    let setup = ProviderSetup {
        clients: vec![
            Client::new(CLIENT_ID, CLIENT_SECRET, &callback)
                .with_post_logout_redirect_uri(&format!("{app}/signed-out")),
            Client::new(POST_CLIENT_ID, CLIENT_SECRET, &callback)
                .with_token_auth_method(TokenAuthMethod::ClientSecretPost),
        ],
        users: vec![
            User::new("alice", "alice@example.test", "Alice Example")
                .with_groups(&["staff", "admins"]),
            User::new("bob", "bob@example.test", "Bob Example").with_password("hunter2"),
        ],
        ..ProviderSetup::default()
    };
    (OidcProvider::spawn(setup).await.unwrap(), app)
}

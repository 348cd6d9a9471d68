//! `/api/me` and `/api/starters`: who is signed in, and what to suggest they ask.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;

use crate::identity::CurrentUser;
use crate::state::AppState;
use crate::wire::{ErrorBody, Me, Starter};

/// The signed-in user, as their identity token describes them.
#[utoipa::path(
    get,
    path = "/api/me",
    operation_id = "get_me",
    tag = "user",
    responses(
        (status = 200, description = "The user", body = Me),
        (status = 401, description = "No valid identity token", body = ErrorBody),
    )
)]
pub(crate) async fn me(user: CurrentUser) -> Json<Me> {
    let identity = user.identity;
    Json(Me {
        subject: identity.subject,
        name: identity.name,
        email: identity.email,
        groups: identity.groups,
    })
}

/// The suggested first messages of an empty thread.
#[utoipa::path(
    get,
    path = "/api/starters",
    operation_id = "list_starters",
    tag = "user",
    responses(
        (status = 200, description = "The starters", body = [Starter]),
        (status = 401, description = "No valid identity token", body = ErrorBody),
    )
)]
pub(crate) async fn starters(
    State(state): State<Arc<AppState>>,
    _user: CurrentUser,
) -> Json<Vec<Starter>> {
    Json(state.starters.clone())
}

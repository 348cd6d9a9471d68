//! `/api/threads`: a user's conversations, listed, created, read, renamed and deleted.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::{ApiJson, OptionalJson, thread_id};
use crate::error::ApiError;
use crate::identity::CurrentUser;
use crate::state::AppState;
use crate::store::DEFAULT_THREAD_TITLE;
use crate::store::{MAX_PAGE_LIMIT, ThreadCursor};
use crate::wire::{
    CreateThread, ErrorBody, MessageView, RenameThread, ThreadDetailView, ThreadList, ThreadView,
};

/// The page size when none is asked for.
const DEFAULT_PAGE: u32 = 20;

/// The query of `GET /api/threads`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// How many threads to return, 1 to 100 (default 20).
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Lists the user's threads, most recently active first.
#[utoipa::path(
    get,
    path = "/api/threads",
    operation_id = "list_threads",
    tag = "threads",
    params(ListQuery),
    responses(
        (status = 200, description = "One page of threads", body = ThreadList),
        (status = 400, description = "A bad limit or cursor", body = ErrorBody),
        (status = 401, description = "No valid identity token", body = ErrorBody),
    )
)]
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    user: CurrentUser,
    Query(query): Query<ListQuery>,
) -> Result<Json<ThreadList>, ApiError> {
    let limit = match query.limit.as_deref() {
        None | Some("") => DEFAULT_PAGE,
        Some(raw) => raw.parse().map_err(|_| {
            ApiError::invalid(
                format!("limit must be a number from 1 to {MAX_PAGE_LIMIT}"),
                Some("limit".to_owned()),
            )
        })?,
    };
    let cursor = match query.cursor.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(ThreadCursor::parse(raw)?),
    };

    let page = state
        .store
        .list_threads(user.id, limit, cursor.as_ref())
        .await?;
    Ok(Json(ThreadList {
        threads: page.threads.into_iter().map(ThreadView::from).collect(),
        next_cursor: page.next.map(|cursor| cursor.to_string()),
    }))
}

/// Starts a thread.
#[utoipa::path(
    post,
    path = "/api/threads",
    operation_id = "create_thread",
    tag = "threads",
    request_body(content = CreateThread, description = "May be left out"),
    responses(
        (status = 201, description = "The new thread", body = ThreadView),
        (status = 400, description = "A bad title", body = ErrorBody),
        (status = 401, description = "No valid identity token", body = ErrorBody),
    )
)]
pub(crate) async fn create(
    State(state): State<Arc<AppState>>,
    user: CurrentUser,
    OptionalJson(body): OptionalJson<CreateThread>,
) -> Result<(StatusCode, Json<ThreadView>), ApiError> {
    let title = body.title.as_deref().unwrap_or(DEFAULT_THREAD_TITLE);
    let thread = state.store.create_thread(user.id, title).await?;
    Ok((StatusCode::CREATED, Json(thread.into())))
}

/// Reads a thread with all its messages and their steps.
#[utoipa::path(
    get,
    path = "/api/threads/{id}",
    operation_id = "get_thread",
    tag = "threads",
    params(("id" = String, Path, description = "The thread's id")),
    responses(
        (status = 200, description = "The thread", body = ThreadDetailView),
        (status = 401, description = "No valid identity token", body = ErrorBody),
        (status = 404, description = "No such thread of the user's", body = ErrorBody),
    )
)]
pub(crate) async fn detail(
    State(state): State<Arc<AppState>>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<ThreadDetailView>, ApiError> {
    let id = thread_id(&id)?;
    let detail = state
        .store
        .thread_detail(user.id, &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(ThreadDetailView {
        thread: detail.thread.into(),
        messages: detail.messages.into_iter().map(MessageView::from).collect(),
    }))
}

/// Renames a thread.
#[utoipa::path(
    patch,
    path = "/api/threads/{id}",
    operation_id = "rename_thread",
    tag = "threads",
    params(("id" = String, Path, description = "The thread's id")),
    request_body = RenameThread,
    responses(
        (status = 200, description = "The renamed thread", body = ThreadView),
        (status = 400, description = "A bad title", body = ErrorBody),
        (status = 401, description = "No valid identity token", body = ErrorBody),
        (status = 404, description = "No such thread of the user's", body = ErrorBody),
    )
)]
pub(crate) async fn rename(
    State(state): State<Arc<AppState>>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RenameThread>,
) -> Result<Json<ThreadView>, ApiError> {
    let id = thread_id(&id)?;
    let thread = state.store.rename_thread(user.id, &id, &body.title).await?;
    Ok(Json(thread.into()))
}

/// Deletes a thread with its messages, steps and feedback.
#[utoipa::path(
    delete,
    path = "/api/threads/{id}",
    operation_id = "delete_thread",
    tag = "threads",
    params(("id" = String, Path, description = "The thread's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid identity token", body = ErrorBody),
        (status = 404, description = "No such thread of the user's", body = ErrorBody),
    )
)]
pub(crate) async fn delete(
    State(state): State<Arc<AppState>>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = thread_id(&id)?;
    state.store.delete_thread(user.id, &id).await?;
    state.generations.thread_deleted(user.id, &id);
    tracing::info!(thread = %id, "thread deleted");
    Ok(StatusCode::NO_CONTENT)
}

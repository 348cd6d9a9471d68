//! Posting a message and streaming its answer, resuming the stream, stopping an answer,
//! and feedback on it.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::{ApiJson, message_id, thread_id};
use crate::error::ApiError;
use crate::generation::{EventStream, SeqEvent};
use crate::identity::CurrentUser;
use crate::state::AppState;
use crate::store::{Feedback, MessageId};
use crate::wire::{ErrorBody, FeedbackBody, PostMessage};

/// How often an idle stream sends a comment, so that proxies keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// What the OpenAPI document says about the event stream.
const STREAM_DESCRIPTION: &str = "Server-Sent Events. Each frame has `id: <message_id>.<seq>` \
    (seq from 0), `event:` one of user_message, answer_start, text, step_start, step_end, \
    message, done, error, and `data:` the JSON payload of the schema named like the event \
    (UserMessageEvent, AnswerStartEvent, TextEvent, StepStartEvent, StepEndEvent, \
    MessageEvent, DoneEvent, ErrorEvent). `error` is followed by `message` and `done`; the \
    stream ends after `done`.";

/// Posts the person's message and streams the answer, from seq 0.
#[utoipa::path(
    post,
    path = "/api/threads/{id}/messages",
    operation_id = "post_message",
    tag = "messages",
    params(("id" = String, Path, description = "The thread's id")),
    request_body = PostMessage,
    responses(
        (status = 200, description = STREAM_DESCRIPTION, content_type = "text/event-stream", body = String),
        (status = 400, description = "A malformed body or an empty message", body = ErrorBody),
        (status = 401, description = "No valid identity token", body = ErrorBody),
        (status = 404, description = "No such thread of the user's", body = ErrorBody),
        (status = 409, description = "The thread's last answer is still being generated", body = ErrorBody),
        (status = 413, description = "The message is too long", body = ErrorBody),
        (status = 429, description = "Too many messages or answers at once; see Retry-After", body = ErrorBody),
    )
)]
#[tracing::instrument(name = "post_message", skip_all, fields(user = user.id.get(), thread = %id))]
pub(crate) async fn post(
    State(state): State<Arc<AppState>>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PostMessage>,
) -> Result<Response, ApiError> {
    let thread = thread_id(&id)?;
    let stream = state
        .generations
        .start(user.id, &thread, &body.content)
        .await?;
    Ok(sse(stream))
}

/// The query of `GET /api/messages/{id}/events`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct EventsQuery {
    /// Resume after this seq, when no `Last-Event-ID` header is sent.
    after: Option<String>,
}

/// Streams an answer's events after a given one: live while it is generating, from
/// memory for a while after, and rebuilt from the database after that.
#[utoipa::path(
    get,
    path = "/api/messages/{id}/events",
    operation_id = "message_events",
    tag = "messages",
    params(
        ("id" = i64, Path, description = "The answer's message id"),
        ("Last-Event-ID" = Option<String>, Header, description = "The last event seen, `<message_id>.<seq>`"),
        EventsQuery,
    ),
    responses(
        (status = 200, description = STREAM_DESCRIPTION, content_type = "text/event-stream", body = String),
        (status = 400, description = "A malformed Last-Event-ID or after", body = ErrorBody),
        (status = 401, description = "No valid identity token", body = ErrorBody),
        (status = 404, description = "No such answer of the user's", body = ErrorBody),
    )
)]
#[tracing::instrument(name = "resume_events", skip_all, fields(user = user.id.get(), message = %id))]
pub(crate) async fn events(
    State(state): State<Arc<AppState>>,
    user: CurrentUser,
    Path(id): Path<String>,
    Query(query): Query<EventsQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let message = message_id(&id)?;
    let after = resume_point(message, &headers, query.after.as_deref())?;
    let stream = state.generations.subscribe(user.id, message, after).await?;
    Ok(sse(stream))
}

/// Where a resumed stream starts: after the `Last-Event-ID` header's seq, or else after
/// the `after` parameter, or from the beginning.
fn resume_point(
    message: MessageId,
    headers: &HeaderMap,
    after: Option<&str>,
) -> Result<Option<u64>, ApiError> {
    if let Some(last) = headers.get("last-event-id") {
        let parsed = last
            .to_str()
            .ok()
            .and_then(|last| last.trim().split_once('.'))
            .and_then(|(id, seq)| Some((id.parse::<i64>().ok()?, seq.parse::<u64>().ok()?)));
        return match parsed {
            Some((id, seq)) if id == message.get() => Ok(Some(seq)),
            Some(_) => Err(ApiError::invalid(
                "Last-Event-ID names another message",
                Some("Last-Event-ID".to_owned()),
            )),
            None => Err(ApiError::invalid(
                "Last-Event-ID must be <message_id>.<seq>",
                Some("Last-Event-ID".to_owned()),
            )),
        };
    }
    match after {
        None | Some("") => Ok(None),
        Some(raw) => raw.parse().map(Some).map_err(|_| {
            ApiError::invalid("after must be a sequence number", Some("after".to_owned()))
        }),
    }
}

/// Stops an answer being generated; it is saved as stopped with the text so far.
#[utoipa::path(
    post,
    path = "/api/messages/{id}/stop",
    operation_id = "stop_answer",
    tag = "messages",
    params(("id" = i64, Path, description = "The answer's message id")),
    responses(
        (status = 202, description = "Stopping; the stream ends with done (stopped)"),
        (status = 401, description = "No valid identity token", body = ErrorBody),
        (status = 404, description = "No such answer of the user's", body = ErrorBody),
    )
)]
#[tracing::instrument(name = "stop_answer", skip_all, fields(user = user.id.get(), message = %id))]
pub(crate) async fn stop(
    State(state): State<Arc<AppState>>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let message = message_id(&id)?;
    state.generations.stop(user.id, message).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Sets or clears the person's verdict on an answer.
#[utoipa::path(
    put,
    path = "/api/messages/{id}/feedback",
    operation_id = "set_feedback",
    tag = "messages",
    params(("id" = i64, Path, description = "The answer's message id")),
    request_body = FeedbackBody,
    responses(
        (status = 204, description = "Saved"),
        (status = 400, description = "A value other than 1, -1 or 0", body = ErrorBody),
        (status = 401, description = "No valid identity token", body = ErrorBody),
        (status = 404, description = "No such answer of the user's", body = ErrorBody),
    )
)]
pub(crate) async fn feedback(
    State(state): State<Arc<AppState>>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<FeedbackBody>,
) -> Result<StatusCode, ApiError> {
    let message = message_id(&id)?;
    let verdict = match body.value {
        0 => None,
        value => Some(Feedback::from_value(value).ok_or_else(|| {
            ApiError::invalid("value must be 1, -1 or 0", Some("value".to_owned()))
        })?),
    };
    state.store.set_feedback(user.id, message, verdict).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An answer's events as a Server-Sent Events response that no cache or proxy buffers.
fn sse(stream: EventStream) -> Response {
    let frames = stream
        .events
        .map(|event| Ok::<_, Infallible>(frame(&event)));
    let mut response = Sse::new(frames)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // nginx buffers proxied responses unless told otherwise, which would hold the
    // answer back until it is complete.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

fn frame(event: &SeqEvent) -> Event {
    let data = serde_json::to_string(&event.event).unwrap_or_else(|error| {
        tracing::error!(%error, "could not serialise a stream event");
        "{}".to_owned()
    });
    Event::default()
        .id(event.id())
        .event(event.event.name())
        .data(data)
}

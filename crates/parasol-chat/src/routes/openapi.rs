//! `/api/openapi.json`: the chat API described as OpenAPI 3.1, generated from the
//! handlers and the wire types.

use std::sync::LazyLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{me, messages, threads};
use crate::identity::CurrentUser;
use crate::wire;

/// The chat API's description.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Parasol chat API",
        description = "Threads, messages streamed as Server-Sent Events, and feedback. \
            Every request carries the gateway's identity token in X-User-JWT. Times are \
            Unix milliseconds."
    ),
    paths(
        me::me,
        me::starters,
        threads::list,
        threads::create,
        threads::detail,
        threads::rename,
        threads::delete,
        messages::post,
        messages::events,
        messages::stop,
        messages::feedback,
    ),
    components(schemas(
        wire::ErrorBody,
        wire::ErrorDetail,
        wire::Me,
        wire::Starter,
        wire::ThreadView,
        wire::ThreadList,
        wire::ThreadDetailView,
        wire::MessageView,
        wire::StepView,
        wire::Role,
        wire::Status,
        wire::Usage,
        wire::CreateThread,
        wire::RenameThread,
        wire::PostMessage,
        wire::FeedbackBody,
        wire::UserMessageEvent,
        wire::AnswerStartEvent,
        wire::TextEvent,
        wire::StepStartEvent,
        wire::StepEndEvent,
        wire::MessageEvent,
        wire::DoneEvent,
        wire::ErrorEvent,
    )),
    modifiers(&IdentityHeader),
    security(("identity_token" = [])),
    tags(
        (name = "user", description = "The signed-in user"),
        (name = "threads", description = "Conversations"),
        (name = "messages", description = "Messages, their answers and feedback"),
    )
)]
pub(crate) struct ApiDoc;

/// Declares the `X-User-JWT` header as the API's security scheme.
struct IdentityHeader;

impl Modify for IdentityHeader {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "identity_token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-User-JWT",
                "The identity token the gateway adds to every request",
            ))),
        );
    }
}

static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi().to_pretty_json().unwrap_or_else(|error| {
        tracing::error!(%error, "could not serialise the OpenAPI document");
        String::from("{}")
    })
});

/// `GET /api/openapi.json`.
pub(crate) async fn document(_user: CurrentUser) -> Response {
    let mut response = DOCUMENT.as_str().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

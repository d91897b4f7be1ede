//! `/v1/sites/{site}/webhooks`: a site's webhook subscriptions, managed with an `admin` key —
//! create (the signing secret is shown once), list, show, change or pause, delete, rotate the
//! secret, send a test delivery, and read each subscription's delivery log. A `read` key gets
//! `403`: subscriptions send comments and customer ids wherever their URL points.

use super::method_not_allowed;
use super::openapi::{KeyedErrors, SitePath};
use crate::api_key::KeyScope;
use crate::auth::authorize_for;
use crate::error::{ApiError, ErrorBody, json_body_error};
use crate::site::Site;
use crate::store::{DeliveryRecord, Store, Webhook};
use crate::webhooks::dispatcher::{Watch, queue_test};
use crate::webhooks::{
    self, Filters, Format, MAX_PER_SITE, ReceiverUrl, WebhookSecret, WebhookSettings, WebhookState,
};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, IntoResponses, ToSchema};

/// The largest request body: a subscription's settings.
const MAX_BODY_BYTES: usize = 16 * 1024;
/// Deliveries a log page holds unless the client asks for fewer.
const DEFAULT_LIMIT: u32 = 20;
/// The most deliveries a log page holds.
const MAX_LIMIT: u32 = 100;

/// Registers the webhook routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1/sites/{site}/webhooks")
            .app_data(
                web::JsonConfig::default()
                    .limit(MAX_BODY_BYTES)
                    .error_handler(|error, _| {
                        json_body_error(
                            error,
                            MAX_BODY_BYTES,
                            r#"send {"url": "https://…", "format": "standard" or "slack", "filters": {…}}"#,
                        )
                        .into()
                    }),
            )
            .service(
                web::resource("")
                    .route(web::get().to(list))
                    .route(web::post().to(create))
                    .default_service(method_not_allowed()),
            )
            .service(
                web::resource("/{id}")
                    .route(web::get().to(show))
                    .route(web::patch().to(update))
                    .route(web::delete().to(delete))
                    .default_service(method_not_allowed()),
            )
            .service(
                web::resource("/{id}/rotate-secret")
                    .route(web::post().to(rotate_secret))
                    .default_service(method_not_allowed()),
            )
            .service(
                web::resource("/{id}/test")
                    .route(web::post().to(send_test))
                    .default_service(method_not_allowed()),
            )
            .service(
                web::resource("/{id}/deliveries")
                    .route(web::get().to(deliveries))
                    .default_service(method_not_allowed()),
            ),
    );
}

/// The `{site}` and `{id}` of a subscription's paths.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct WebhookPath {
    /// The site's public key.
    site: String,
    /// The subscription's id.
    id: i64,
}

/// A subscription as the API shows it. Its secret is shown only when it is made or rotated.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    /// Its id.
    id: i64,
    /// The site's public key.
    site: String,
    /// Where deliveries go.
    url: String,
    format: Format,
    /// The owner's note.
    description: Option<String>,
    filters: Filters,
    state: WebhookState,
    /// When it was made, in milliseconds since the epoch.
    created_at: i64,
    /// When it last changed.
    updated_at: i64,
}

impl WebhookView {
    /// `webhook` of `site` as the API (and the CLI's `--json`) shows it.
    pub fn of(site: &Site, webhook: Webhook) -> Self {
        WebhookView {
            id: webhook.id,
            site: site.key.to_string(),
            url: webhook.settings.url.as_str().to_owned(),
            format: webhook.settings.format,
            description: webhook.settings.description,
            filters: webhook.settings.filters,
            state: webhook.state,
            created_at: webhook.created_at,
            updated_at: webhook.updated_at,
        }
    }
}

/// A new subscription, with the secret its deliveries are signed with.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    webhook: WebhookView,
    /// `whsec_…`: shown only now. Verify each delivery's `webhook-signature` with it.
    secret: String,
}

impl CreatedWebhook {
    /// `webhook`, just made for `site`, with the secret that signs its deliveries.
    pub fn new(site: &Site, webhook: Webhook, secret: &WebhookSecret) -> Self {
        CreatedWebhook {
            webhook: WebhookView::of(site, webhook),
            secret: secret.reveal().to_owned(),
        }
    }
}

/// A site's subscriptions.
#[derive(Debug, Serialize, ToSchema)]
struct WebhookList {
    /// The site's public key.
    site: String,
    /// Oldest first.
    webhooks: Vec<WebhookView>,
}

/// What a new subscription is.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewWebhook {
    /// An absolute `http` or `https` URL, at most 2,048 characters. Private addresses are
    /// allowed: receivers of a self-hosted collector are often internal.
    #[schema(value_type = String)]
    url: ReceiverUrl,
    /// `standard` (the default) or `slack`.
    #[serde(default)]
    format: Format,
    /// A note for people, one line of at most 200 characters.
    description: Option<String>,
    /// Which answers to deliver; none given, every answer.
    #[serde(default)]
    filters: Filters,
}

/// What to change in a subscription; fields left out stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct WebhookChange {
    /// A new URL.
    #[schema(value_type = Option<String>)]
    url: Option<ReceiverUrl>,
    /// A new format.
    format: Option<Format>,
    /// A new note; empty text removes it.
    description: Option<String>,
    /// New filters, replacing all the old ones.
    filters: Option<Filters>,
    /// `true` pauses deliveries; `false` resumes them (also after a `410 Gone` disabled them).
    paused: Option<bool>,
}

/// A rotated secret.
#[derive(Debug, Serialize, ToSchema)]
struct RotatedSecret {
    /// The new `whsec_…`, shown only now.
    secret: String,
    /// Until then (milliseconds since the epoch) deliveries carry a second signature made with
    /// the previous secret, so receivers can switch without losing any.
    previous_secret_valid_until: i64,
}

/// A queued test delivery.
#[derive(Debug, Serialize, ToSchema)]
struct QueuedTest {
    /// The delivery's id in the subscription's log.
    delivery: i64,
}

/// A page of a subscription's delivery log.
#[derive(Debug, Serialize, ToSchema)]
struct DeliveryLog {
    /// The subscription's id.
    webhook: i64,
    /// Newest first, each with every attempt.
    deliveries: Vec<DeliveryRecord>,
    /// Pass as `before` for the next page; null on the last.
    next_before: Option<i64>,
}

/// The query string of the delivery log.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct LogParams {
    /// `pending`, `delivered` or `failed`; every delivery by default.
    status: Option<String>,
    /// Deliveries per page: 1 to 100, 20 by default.
    limit: Option<u32>,
    /// The previous page's `next_before`.
    before: Option<i64>,
}

/// What a request with a subscription body can fail with, beyond a bad key.
#[derive(IntoResponses)]
pub enum BodyErrors {
    /// `malformed_json`, or `invalid_request`: a bad URL or filter, an unknown field (the
    /// message says which rule is broken).
    #[response(status = 400)]
    Invalid(ErrorBody<'static>),
    /// `forbidden`: a valid key without the `admin` scope.
    #[response(status = 403)]
    Forbidden(ErrorBody<'static>),
    /// `payload_too_large`: the body is over 16 KiB.
    #[response(status = 413)]
    TooLarge(ErrorBody<'static>),
    /// `unsupported_media_type`: the body is not `application/json`.
    #[response(status = 415)]
    NotJson(ErrorBody<'static>),
}

/// What a request about one subscription can fail with, beyond a bad key.
#[derive(IntoResponses)]
pub enum OneErrors {
    /// `invalid_parameter`: the id is not a number.
    #[response(status = 400)]
    Invalid(ErrorBody<'static>),
    /// `forbidden`: a valid key without the `admin` scope.
    #[response(status = 403)]
    Forbidden(ErrorBody<'static>),
    /// `unknown_webhook`: the site has no subscription with this id.
    #[response(status = 404)]
    Unknown(ErrorBody<'static>),
}

/// Create a webhook subscription
///
/// Every answer the filters pick (all of them without filters) is delivered to `url` once,
/// signed as Standard Webhooks prescribe, and retried with backoff until the receiver answers
/// `2xx`. The answer holds the signing secret: it is shown only now. Needs an `admin` key.
#[utoipa::path(
    post,
    path = "/v1/sites/{site}/webhooks",
    tag = "webhooks",
    params(SitePath),
    request_body = NewWebhook,
    security(("api_key" = ["admin"])),
    responses(
        (status = 201, description = "Made; deliveries start with the next matching answer.", body = CreatedWebhook),
        BodyErrors,
        KeyedErrors,
    ),
)]
#[tracing::instrument(name = "webhook_create", skip_all)]
async fn create(
    request: HttpRequest,
    site: web::Path<String>,
    body: web::Json<NewWebhook>,
    store: web::Data<dyn Store>,
    watch: web::Data<Watch>,
) -> Result<HttpResponse, ApiError> {
    let site = authorize_for(&request, store.get_ref(), &site, KeyScope::Admin).await?;
    let body = body.into_inner();
    let settings = WebhookSettings {
        url: body.url,
        format: body.format,
        description: webhooks::description(body.description.as_deref()).map_err(invalid)?,
        filters: body.filters,
    };
    if store.webhooks(&site).await?.len() >= MAX_PER_SITE {
        return Err(ApiError::InvalidRequest(format!(
            "a site has at most {MAX_PER_SITE} webhooks: delete one first"
        )));
    }
    let secret = WebhookSecret::generate().map_err(|error| ApiError::Internal(Box::new(error)))?;
    let webhook = store.create_webhook(&site, &settings, &secret).await?;
    watch.watch(site.id);
    tracing::info!(site = %site.key, webhook = webhook.id, "created a webhook subscription");
    Ok(HttpResponse::Created().json(CreatedWebhook::new(&site, webhook, &secret)))
}

/// List a site's webhook subscriptions
///
/// Their URLs, formats, filters and states, never their secrets. Needs an `admin` key.
#[utoipa::path(
    get,
    path = "/v1/sites/{site}/webhooks",
    tag = "webhooks",
    params(SitePath),
    security(("api_key" = ["admin"])),
    responses(
        (status = 200, description = "Every subscription of the site.", body = WebhookList),
        (status = 403, body = ErrorBody, description = "`forbidden`: a valid key without the `admin` scope."),
        KeyedErrors,
    ),
)]
#[tracing::instrument(name = "webhook_list", skip_all)]
async fn list(
    request: HttpRequest,
    site: web::Path<String>,
    store: web::Data<dyn Store>,
) -> Result<web::Json<WebhookList>, ApiError> {
    let site = authorize_for(&request, store.get_ref(), &site, KeyScope::Admin).await?;
    let webhooks = store.webhooks(&site).await?;
    Ok(web::Json(WebhookList {
        site: site.key.to_string(),
        webhooks: webhooks
            .into_iter()
            .map(|webhook| WebhookView::of(&site, webhook))
            .collect(),
    }))
}

/// Show a webhook subscription
///
/// Needs an `admin` key.
#[utoipa::path(
    get,
    path = "/v1/sites/{site}/webhooks/{id}",
    tag = "webhooks",
    params(WebhookPath),
    security(("api_key" = ["admin"])),
    responses(
        (status = 200, description = "The subscription.", body = WebhookView),
        OneErrors,
        KeyedErrors,
    ),
)]
#[tracing::instrument(name = "webhook_show", skip_all)]
async fn show(
    request: HttpRequest,
    path: web::Path<WebhookPath>,
    store: web::Data<dyn Store>,
) -> Result<web::Json<WebhookView>, ApiError> {
    let (site, webhook) = existing(&request, store.get_ref(), &path).await?;
    Ok(web::Json(WebhookView::of(&site, webhook)))
}

/// Change, pause or resume a webhook subscription
///
/// Fields left out stay as they are; `filters` replaces all the filters at once. Pausing stops
/// new deliveries and holds pending ones; resuming sends them. Needs an `admin` key.
#[utoipa::path(
    patch,
    path = "/v1/sites/{site}/webhooks/{id}",
    tag = "webhooks",
    params(WebhookPath),
    request_body = WebhookChange,
    security(("api_key" = ["admin"])),
    responses(
        (status = 200, description = "Changed; the subscription as it is now.", body = WebhookView),
        BodyErrors,
        (status = 404, body = ErrorBody, description = "`unknown_webhook`: the site has no subscription with this id."),
        KeyedErrors,
    ),
)]
#[tracing::instrument(name = "webhook_update", skip_all)]
async fn update(
    request: HttpRequest,
    path: web::Path<WebhookPath>,
    change: web::Json<WebhookChange>,
    store: web::Data<dyn Store>,
    watch: web::Data<Watch>,
) -> Result<web::Json<WebhookView>, ApiError> {
    let (site, webhook) = existing(&request, store.get_ref(), &path).await?;
    let change = change.into_inner();
    let mut settings = webhook.settings;
    if let Some(url) = change.url {
        settings.url = url;
    }
    if let Some(format) = change.format {
        settings.format = format;
    }
    if let Some(description) = change.description {
        settings.description = webhooks::description(Some(&description)).map_err(invalid)?;
    }
    if let Some(filters) = change.filters {
        settings.filters = filters;
    }
    let state = match change.paused {
        Some(true) => WebhookState::Paused,
        Some(false) => WebhookState::Active,
        None => webhook.state,
    };
    let updated = store
        .update_webhook(&site, webhook.id, &settings, state)
        .await?
        .ok_or(ApiError::UnknownWebhook(webhook.id))?;
    if updated.state == WebhookState::Active {
        watch.watch(site.id);
        // Deliveries held while it was paused are due now.
        watch.ring();
    }
    tracing::info!(site = %site.key, webhook = updated.id, state = updated.state.as_str(), "changed a webhook subscription");
    Ok(web::Json(WebhookView::of(&site, updated)))
}

/// Delete a webhook subscription
///
/// With its pending deliveries and its log. Needs an `admin` key.
#[utoipa::path(
    delete,
    path = "/v1/sites/{site}/webhooks/{id}",
    tag = "webhooks",
    params(WebhookPath),
    security(("api_key" = ["admin"])),
    responses(
        (status = 204, description = "Deleted."),
        OneErrors,
        KeyedErrors,
    ),
)]
#[tracing::instrument(name = "webhook_delete", skip_all)]
async fn delete(
    request: HttpRequest,
    path: web::Path<WebhookPath>,
    store: web::Data<dyn Store>,
) -> Result<HttpResponse, ApiError> {
    let (site, webhook) = existing(&request, store.get_ref(), &path).await?;
    if !store.delete_webhook(&site, webhook.id).await? {
        return Err(ApiError::UnknownWebhook(webhook.id));
    }
    tracing::info!(site = %site.key, webhook = webhook.id, "deleted a webhook subscription");
    Ok(HttpResponse::NoContent().finish())
}

/// Rotate a webhook subscription's signing secret
///
/// Answers the new secret, shown only now. For a day, deliveries carry two signatures (new and
/// previous secret, space-separated, as Standard Webhooks allows), so a receiver can switch
/// without refusing any. Needs an `admin` key.
#[utoipa::path(
    post,
    path = "/v1/sites/{site}/webhooks/{id}/rotate-secret",
    tag = "webhooks",
    params(WebhookPath),
    security(("api_key" = ["admin"])),
    responses(
        (status = 200, description = "The new secret.", body = RotatedSecret),
        OneErrors,
        KeyedErrors,
    ),
)]
#[tracing::instrument(name = "webhook_rotate_secret", skip_all)]
async fn rotate_secret(
    request: HttpRequest,
    path: web::Path<WebhookPath>,
    store: web::Data<dyn Store>,
) -> Result<web::Json<RotatedSecret>, ApiError> {
    let (site, webhook) = existing(&request, store.get_ref(), &path).await?;
    let secret = WebhookSecret::generate().map_err(|error| ApiError::Internal(Box::new(error)))?;
    let until = crate::store::now_millis() + crate::webhooks::ROTATION_OVERLAP_MILLIS;
    if !store
        .rotate_webhook_secret(&site, webhook.id, &secret, until)
        .await?
    {
        return Err(ApiError::UnknownWebhook(webhook.id));
    }
    tracing::info!(site = %site.key, webhook = webhook.id, "rotated a webhook secret");
    Ok(web::Json(RotatedSecret {
        secret: secret.reveal().to_owned(),
        previous_secret_valid_until: until,
    }))
}

/// Send a test delivery
///
/// Queues a `webhook.test` delivery to the subscription's URL, signed and retried like any
/// other; follow it in the delivery log. Needs an `admin` key.
#[utoipa::path(
    post,
    path = "/v1/sites/{site}/webhooks/{id}/test",
    tag = "webhooks",
    params(WebhookPath),
    security(("api_key" = ["admin"])),
    responses(
        (status = 202, description = "Queued; sent within moments.", body = QueuedTest),
        OneErrors,
        KeyedErrors,
    ),
)]
#[tracing::instrument(name = "webhook_test", skip_all)]
async fn send_test(
    request: HttpRequest,
    path: web::Path<WebhookPath>,
    store: web::Data<dyn Store>,
    watch: web::Data<Watch>,
) -> Result<HttpResponse, ApiError> {
    let (site, webhook) = existing(&request, store.get_ref(), &path).await?;
    let delivery = queue_test(store.get_ref(), &watch, site.key.as_str(), &webhook).await?;
    Ok(HttpResponse::Accepted().json(QueuedTest { delivery }))
}

/// A webhook subscription's delivery log
///
/// Its deliveries, newest first, each with its status and every attempt: when, the receiver's
/// HTTP status or the error, how long it took, and the start of the receiver's answer. Finished
/// deliveries are kept 30 days (`--webhook-retention-days`). Needs an `admin` key.
#[utoipa::path(
    get,
    path = "/v1/sites/{site}/webhooks/{id}/deliveries",
    tag = "webhooks",
    params(WebhookPath, LogParams),
    security(("api_key" = ["admin"])),
    responses(
        (status = 200, description = "A page of the log.", body = DeliveryLog),
        (status = 400, body = ErrorBody, description = "`invalid_parameter`: a bad id, status, limit or cursor."),
        (status = 403, body = ErrorBody, description = "`forbidden`: a valid key without the `admin` scope."),
        (status = 404, body = ErrorBody, description = "`unknown_webhook`: the site has no subscription with this id."),
        KeyedErrors,
    ),
)]
#[tracing::instrument(name = "webhook_deliveries", skip_all)]
async fn deliveries(
    request: HttpRequest,
    path: web::Path<WebhookPath>,
    params: web::Query<LogParams>,
    store: web::Data<dyn Store>,
) -> Result<web::Json<DeliveryLog>, ApiError> {
    let (site, webhook) = existing(&request, store.get_ref(), &path).await?;
    let status = params.status.as_deref();
    if status.is_some_and(|status| !matches!(status, "pending" | "delivered" | "failed")) {
        return Err(ApiError::InvalidParameter(
            "`status` is pending, delivered or failed".into(),
        ));
    }
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::InvalidParameter(format!(
            "`limit` is 1 to {MAX_LIMIT}"
        )));
    }
    let page = store
        .webhook_deliveries(&site, webhook.id, status, params.before, i64::from(limit))
        .await?;
    let next_before = (page.len() == limit as usize)
        .then(|| page.last().map(|delivery| delivery.id))
        .flatten();
    Ok(web::Json(DeliveryLog {
        webhook: webhook.id,
        deliveries: page,
        next_before,
    }))
}

/// The site, with an `admin` key, and its subscription `path.id`.
async fn existing(
    request: &HttpRequest,
    store: &dyn Store,
    path: &WebhookPath,
) -> Result<(Site, Webhook), ApiError> {
    let site = authorize_for(request, store, &path.site, KeyScope::Admin).await?;
    let webhook = store
        .webhook(&site, path.id)
        .await?
        .ok_or(ApiError::UnknownWebhook(path.id))?;
    Ok((site, webhook))
}

fn invalid(error: webhooks::InvalidWebhook) -> ApiError {
    ApiError::InvalidRequest(error.0)
}

//! Who may read a site's reports: whoever presents one of its unrevoked API keys. Erasing a
//! respondent's data takes a key with the `admin` scope. A key alone also says whose it is
//! ([`key_holder`]), since every key belongs to one site.

use crate::api_key::{ApiKey, KeyScope};
use crate::error::ApiError;
use crate::site::Site;
use crate::store::{Authorized, Store};
use actix_web::HttpRequest;
use actix_web::http::header;
use touchstone_shared::SiteKey;

/// The site named by `site`, if the request carries a valid API key for exactly that site.
///
/// An unknown site, a malformed key and another site's key all give the same `401`, so the
/// answer reveals nothing about which sites exist.
pub async fn authorize(
    request: &HttpRequest,
    store: &dyn Store,
    site: &str,
) -> Result<Site, ApiError> {
    authorize_for(request, store, site, KeyScope::Read).await
}

/// Like [`authorize`], for what only a key of `needed` scope may do: a valid key with a
/// narrower scope gets `403 forbidden`.
pub async fn authorize_for(
    request: &HttpRequest,
    store: &dyn Store,
    site: &str,
    needed: KeyScope,
) -> Result<Site, ApiError> {
    let presented = presented_key(request)?;
    let site = SiteKey::parse(site).map_err(|_| ApiError::Unauthorized)?;
    let authorized = store
        .authorized_site(&site, &presented.hash())
        .await?
        .ok_or(ApiError::Unauthorized)?;
    if !authorized.scope.covers(needed) {
        return Err(ApiError::Forbidden(needed));
    }
    Ok(authorized.site)
}

/// The site and scope of the key the request presents, whichever site it belongs to: what a
/// client that holds only a key (the dashboard) asks first. A missing, wrong or revoked key is
/// `401`, as everywhere.
pub async fn key_holder(request: &HttpRequest, store: &dyn Store) -> Result<Authorized, ApiError> {
    let presented = presented_key(request)?;
    store
        .key_holder(&presented.hash())
        .await?
        .ok_or(ApiError::Unauthorized)
}

/// The key in `Authorization: Bearer <key>`, or `401` without one. Two `Authorization`
/// headers are refused too: which one a proxy or a server reads differs, so neither is taken.
fn presented_key(request: &HttpRequest) -> Result<ApiKey, ApiError> {
    let mut headers = request.headers().get_all(header::AUTHORIZATION);
    let first = headers.next();
    if headers.next().is_some() {
        return Err(ApiError::Unauthorized);
    }
    first
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|key| !key.is_empty())
        .map(ApiKey::presented)
        .ok_or(ApiError::Unauthorized)
}

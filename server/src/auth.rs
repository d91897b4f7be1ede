//! Who may read a site's reports: whoever presents one of its unrevoked API keys. Erasing a
//! respondent's data takes a key with the `admin` scope.

use crate::api_key::{ApiKey, KeyScope};
use crate::error::ApiError;
use crate::site::Site;
use crate::store::Store;
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
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or(ApiError::Unauthorized)?;
    let site = SiteKey::parse(site).map_err(|_| ApiError::Unauthorized)?;
    let authorized = store
        .authorized_site(&site, &ApiKey::presented(presented).hash())
        .await?
        .ok_or(ApiError::Unauthorized)?;
    if !authorized.scope.covers(needed) {
        return Err(ApiError::Forbidden(needed));
    }
    Ok(authorized.site)
}

//! Who may read a site's reports: whoever presents one of its unrevoked API keys.

use crate::api_key::ApiKey;
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
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or(ApiError::Unauthorized)?;
    let site = SiteKey::parse(site).map_err(|_| ApiError::Unauthorized)?;
    store
        .authorized_site(&site, &ApiKey::presented(presented).hash())
        .await?
        .ok_or(ApiError::Unauthorized)
}

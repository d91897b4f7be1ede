//! Privacy requests: everything held about a visitor or a customer, exported or erased.
//!
//! A customer is found through the `identify` events that linked visitors to the owner's
//! customer id; erasing a customer erases every event of those visitors (their journeys and
//! answers too, not just the identify, and the answers a history import stored for them) and
//! the revenue rows of that customer id, and takes them out of the rollups in the same
//! transaction. Webhook deliveries that carried their answers (pending or sent, with their
//! payloads and log) are exported and erased with them. The HTTP routes and the CLI both go
//! through here.

use crate::site::Site;
use crate::store::{Erased, HeldDelivery, HeldEvent, HeldRevenue, Store, StoreError, Subject};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use touchstone_shared::CustomerId;
use touchstone_shared::wire::VisitorId;
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Schema};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

/// Whose data a request is about, as clients write it: `{"visitor": "…"}` or
/// `{"customer": "…"}`, exactly one of them.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "SubjectFields")]
pub struct SubjectRequest(Subject);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubjectFields {
    visitor: Option<VisitorId>,
    customer: Option<CustomerId>,
}

impl TryFrom<SubjectFields> for SubjectRequest {
    type Error = &'static str;

    fn try_from(fields: SubjectFields) -> Result<Self, Self::Error> {
        match (fields.visitor, fields.customer) {
            (Some(visitor), None) => Ok(SubjectRequest(Subject::Visitor(visitor))),
            (None, Some(customer)) => Ok(SubjectRequest(Subject::Customer(customer))),
            _ => Err("name exactly one of `visitor` and `customer`"),
        }
    }
}

/// Written by hand: "exactly one of" is a `oneOf`, which the derive cannot make of optional fields.
impl PartialSchema for SubjectRequest {
    fn schema() -> RefOr<Schema> {
        let only = |field: &str, schema: Cow<'static, str>| {
            ObjectBuilder::new()
                .property(field, Ref::from_schema_name(schema))
                .required(field)
                .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        };
        OneOfBuilder::new()
            .item(only("visitor", VisitorId::name()))
            .item(only("customer", CustomerId::name()))
            .description(Some(
                "Whose data: one visitor by the id their browser made, `{\"visitor\": \"<uuid>\"}`, \
                 or every visitor identified as a customer, `{\"customer\": \"<id>\"}`.",
            ))
            .into()
    }
}

impl ToSchema for SubjectRequest {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((VisitorId::name().into_owned(), VisitorId::schema()));
        schemas.push((CustomerId::name().into_owned(), CustomerId::schema()));
    }
}

impl From<SubjectRequest> for Subject {
    fn from(request: SubjectRequest) -> Self {
        request.0
    }
}

/// Everything held about a subject on one site.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Export {
    /// The site's public key.
    pub site: String,
    /// The visitor ids the subject stands for.
    pub visitors: Vec<uuid::Uuid>,
    /// Every stored event of those visitors, oldest first.
    pub events: Vec<HeldEvent>,
    /// The customer's revenue rows, oldest first (none for a visitor: revenue belongs to
    /// customer ids).
    pub revenue: Vec<HeldRevenue>,
    /// The webhook deliveries that carried their answers, with what they carried.
    pub webhook_deliveries: Vec<HeldDelivery>,
}

/// Collects everything `site` holds about `subject`.
pub async fn export(
    store: &dyn Store,
    site: &Site,
    subject: &Subject,
) -> Result<Export, StoreError> {
    let events = store.held_events(site, subject).await?;
    let revenue = match subject {
        Subject::Customer(customer) => store.held_revenue(site, customer).await?,
        Subject::Visitor(_) => Vec::new(),
    };
    let webhook_deliveries = store.held_deliveries(site, subject).await?;
    let mut visitors: Vec<uuid::Uuid> = events.iter().map(|event| event.visitor).collect();
    visitors.sort();
    visitors.dedup();
    Ok(Export {
        site: site.key.to_string(),
        visitors,
        events,
        revenue,
        webhook_deliveries,
    })
}

/// Erases everything `site` holds about `subject`.
pub async fn erase(
    store: &dyn Store,
    site: &Site,
    subject: &Subject,
) -> Result<Erased, StoreError> {
    let erased = store.erase(site, subject).await?;
    tracing::info!(site = %site.key, visitors = erased.visitors, events = erased.events, revenue = erased.revenue, "erased a respondent's data on request");
    Ok(erased)
}

//! OpenAPI schemas for the types that carry a rule, built only with the `openapi` feature (the
//! collector enables it for its `/v1/openapi.json`; the widget never does).
//!
//! `#[derive(ToSchema)]` describes the structs and the `Event` enum beside their definitions, but
//! it cannot state a newtype's bounds (a score's 0–10, a comment's 2000 characters), so those
//! schemas are written here, from the same constants the parsers check against.

use crate::score::Score;
use crate::survey::Colour;
use crate::text::{
    CampaignTag, Comment, CustomerId, Language, PageUrl, SiteKey, SurveyId, SurveyText,
    TouchpointName, TraitName, TraitValue,
};
use crate::wire::{Event, EventBatch, Timestamp, Traits};
use utoipa::openapi::schema::{
    ArrayBuilder, KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type,
};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

/// Implements `PartialSchema` with `$schema` and `ToSchema` under the type's own name; a type
/// that refers to other schemas lists them after `uses`, so the document includes them.
macro_rules! schema {
    ($type:ty, $schema:expr $(, uses $($used:ty),+)?) => {
        impl PartialSchema for $type {
            fn schema() -> RefOr<Schema> {
                Schema::from($schema).into()
            }
        }

        impl ToSchema for $type {
            fn schemas(_schemas: &mut Vec<(String, RefOr<Schema>)>) {
                $($(
                    _schemas.push((<$used>::name().into_owned(), <$used>::schema()));
                    <$used>::schemas(_schemas);
                )+)?
            }
        }
    };
}

schema!(
    Score,
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(0))
        .maximum(Some(Score::MAX))
        .description(Some(
            "An answer on the Net Promoter scale: a whole number from 0 to 10."
        ))
);

schema!(
    Timestamp,
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(0))
        .maximum(Some(Timestamp::MAX_MILLIS))
        .description(Some(
            "Milliseconds since the Unix epoch (UTC), up to the end of year 9999.",
        ))
);

schema!(
    SiteKey,
    text(
        SiteKey::MAX_CHARS,
        "A site's public key, from the script tag's `data-site`."
    )
    .pattern(Some(format!("^[A-Za-z0-9_-]{{1,{}}}$", SiteKey::MAX_CHARS)))
);

schema!(
    TouchpointName,
    name(
        TouchpointName::MAX_CHARS,
        "A moment of the journey, such as `page_view` or `pricing_viewed`."
    )
);

schema!(TraitName, trait_name());

schema!(
    PageUrl,
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::Custom("uri".into())))
        .pattern(Some("^[Hh][Tt][Tt][Pp][Ss]?://"))
        .description(Some(format!(
            "An http(s) URL without white space. Everything from the first `?` or `#` is \
             dropped before storing; what remains is at most {} characters.",
            PageUrl::MAX_CHARS
        )))
);

schema!(
    Comment,
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(Comment::MAX_CHARS))
        .description(Some(format!(
            "The answer to the follow-up question: trimmed, then at most {} characters, no NUL. \
             Blank text counts as no comment.",
            Comment::MAX_CHARS
        )))
);

schema!(
    CustomerId,
    text(
        CustomerId::MAX_CHARS,
        "The website owner's id for a customer: trimmed, one line (no control characters)."
    )
);

schema!(
    TraitValue,
    text(
        TraitValue::MAX_CHARS,
        "A customer trait's value: trimmed, one line (no control characters)."
    )
);

schema!(
    Traits,
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(trait_name()))
        .additional_properties(Some(Ref::from_schema_name(TraitValue::name())))
        .max_properties(Some(Traits::MAX_ENTRIES))
        .description(Some(format!(
            "What the owner says about the customer: at most {} traits.",
            Traits::MAX_ENTRIES
        ))),
    uses TraitValue
);

schema!(
    SurveyId,
    name(
        TouchpointName::MAX_CHARS,
        "Which survey, such as `nps`: the touchpoint name rule. Answers that name none belong to `nps`."
    )
);

schema!(
    CampaignTag,
    text(
        CampaignTag::MAX_CHARS,
        "A `utm_*` value of the landing page: trimmed, one line (no control characters)."
    )
);

schema!(
    Language,
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^[A-Za-z]{2,3}([-_].*)?$"))
        .description(Some(
            "A BCP 47 language tag such as `fr` or `pt-BR`; only the primary language \
             (lower case) is kept."
        ))
);

schema!(
    SurveyText,
    text(
        SurveyText::MAX_CHARS,
        "Words the site owner gives a survey: trimmed, one line, shown as text, never HTML."
    )
);

schema!(
    Colour,
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$"))
        .description(Some("A CSS colour written #rgb or #rrggbb."))
);

schema!(
    EventBatch,
    ArrayBuilder::new()
        .items(Ref::from_schema_name(Event::name()))
        .min_items(Some(1))
        .max_items(Some(EventBatch::MAX_EVENTS))
        .description(Some("The events, oldest first.")),
    uses Event
);

/// A string of 1 to `max` characters.
fn text(max: usize, description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(max))
        .description(Some(description))
}

/// A touchpoint or trait name: a lower-case letter, then up to `max - 1` of `a-z 0-9 _ . -`.
fn name(max: usize, description: &str) -> ObjectBuilder {
    text(max, description).pattern(Some(format!("^[a-z][a-z0-9_.-]{{0,{}}}$", max - 1)))
}

/// Written out where it is used as well as named: `propertyNames` takes no `$ref`.
fn trait_name() -> ObjectBuilder {
    name(
        TouchpointName::MAX_CHARS,
        "The name of a customer trait, such as `plan`: the touchpoint name rule.",
    )
}

#[cfg(test)]
mod tests {
    //! The documented patterns must accept exactly what the parsers accept.

    use super::*;
    use proptest::prelude::*;
    use regex::Regex;

    fn pattern_of<T: PartialSchema>() -> Regex {
        let RefOr::T(Schema::Object(object)) = T::schema() else {
            panic!("not an inline object schema");
        };
        Regex::new(&object.pattern.expect("a pattern")).unwrap()
    }

    proptest! {
        #[test]
        fn name_and_key_patterns_agree_with_the_parsers(text in "[A-Za-z0-9_.\\- é]{0,70}") {
            let cases: [(Regex, bool); 4] = [
                (pattern_of::<TouchpointName>(), TouchpointName::parse(&text).is_ok()),
                (pattern_of::<SurveyId>(), SurveyId::parse(&text).is_ok()),
                (pattern_of::<TraitName>(), TraitName::parse(&text).is_ok()),
                (pattern_of::<SiteKey>(), SiteKey::parse(&text).is_ok()),
            ];
            for (pattern, parses) in cases {
                prop_assert_eq!(pattern.is_match(&text), parses, "{} on {:?}", pattern, text);
            }
        }
    }
}

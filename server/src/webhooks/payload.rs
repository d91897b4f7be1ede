//! What a delivery carries. The standard format follows the payload structure Standard Webhooks
//! recommends, `{"type", "timestamp", "data"}`; the Slack format is a message
//! (`{"text", "blocks"}`) that a Slack incoming webhook posts as it is. Both are made once, when
//! the delivery is put in the outbox, and every attempt sends the same bytes.

use super::Format;
use crate::store::AnswerContext;
use serde_json::{Value, json};

/// The type of an answer's delivery.
pub const ANSWER_EVENT: &str = "nps.answer";
/// The type of a test delivery.
pub const TEST_EVENT: &str = "webhook.test";

/// The most touchpoints an answer's payload lists (the latest ones before the answer).
pub const MAX_JOURNEY_IN_PAYLOAD: usize = 50;

/// The body of an answer's delivery. `window_millis` is how far before the answer the journey
/// reaches; `now` is when the message is made.
pub fn answer(format: Format, answer: &AnswerContext, window_millis: i64, now: i64) -> String {
    let since = answer.at - window_millis;
    let steps: Vec<_> = answer
        .journey
        .iter()
        .filter(|step| step.at >= since && step.at <= answer.at)
        .collect();
    let steps = &steps[steps.len().saturating_sub(MAX_JOURNEY_IN_PAYLOAD)..];
    let body = match format {
        Format::Standard => json!({
            "type": ANSWER_EVENT,
            "timestamp": time(now),
            "data": {
                "site": answer.site_key,
                "response": {
                    "id": answer.event_id,
                    "survey": answer.survey,
                    "score": answer.score.value(),
                    "category": answer.score.category().as_str(),
                    "comment": answer.comment,
                    "language": answer.language,
                    "device": answer.device,
                    "answered_at": time(answer.at),
                    "received_at": time(answer.received_at),
                },
                "visitor": answer.visitor,
                "customer": answer.customer.as_ref().map(|id| json!({
                    "id": id,
                    "traits": answer.traits,
                })),
                "journey": steps.iter().map(|step| json!({
                    "name": step.name,
                    "url": step.url,
                    "at": time(step.at),
                })).collect::<Vec<_>>(),
            },
        }),
        Format::Slack => slack_answer(
            answer,
            &steps
                .iter()
                .map(|step| step.name.as_str())
                .collect::<Vec<_>>(),
        ),
    };
    body.to_string()
}

/// The body of a test delivery for subscription `subscription` of `site`.
pub fn test(format: Format, site: &str, subscription: i64, now: i64) -> String {
    let body = match format {
        Format::Standard => json!({
            "type": TEST_EVENT,
            "timestamp": time(now),
            "data": {
                "site": site,
                "subscription": subscription,
                "message": "A test delivery from Touchstone: this subscription reaches you.",
            },
        }),
        Format::Slack => {
            let text = format!(
                "Touchstone test delivery for *{}*: webhook {subscription} reaches this channel.",
                escape(site)
            );
            json!({
                "text": text,
                "blocks": [{ "type": "section", "text": { "type": "mrkdwn", "text": text } }],
            })
        }
    };
    body.to_string()
}

/// A Slack message for an answer: a line anyone can read in a notification, and blocks with the
/// comment quoted, the customer and the journey.
fn slack_answer(answer: &AnswerContext, journey: &[&str]) -> Value {
    let category = answer.score.category().as_str();
    let headline = format!(
        "{}{} {}/10 on {} ({} survey)",
        category[..1].to_uppercase(),
        &category[1..],
        answer.score.value(),
        answer.site_key,
        answer.survey
    );
    let who = answer.customer.as_deref().map_or_else(
        || "an anonymous visitor".to_owned(),
        |id| format!("customer {id}"),
    );
    let mut text = format!("{headline} from {who}");
    if let Some(comment) = &answer.comment {
        text.push_str(&format!(": “{comment}”"));
    }
    let mut section = format!("*{}* from {}", escape(&headline), escape(&who));
    if let Some(comment) = &answer.comment {
        section.push('\n');
        for line in comment.lines() {
            section.push_str(&format!("> {}\n", escape(line)));
        }
    }
    let mut context = Vec::new();
    if !answer.traits.is_empty() {
        let traits: Vec<String> = answer
            .traits
            .iter()
            .map(|(name, value)| format!("{}: {}", escape(name), escape(value)))
            .collect();
        context.push(format!("Traits: {}", traits.join(", ")));
    }
    let named: Vec<&str> = journey
        .iter()
        .copied()
        .filter(|name| *name != touchstone_shared::TouchpointName::PAGE_VIEW)
        .collect();
    if !named.is_empty() {
        let shown = &named[named.len().saturating_sub(10)..];
        context.push(format!(
            "Journey: {}",
            shown
                .iter()
                .map(|name| escape(name))
                .collect::<Vec<_>>()
                .join(" → ")
        ));
    }
    context.push(format!("Response `{}`", answer.event_id));
    json!({
        "text": escape(&text),
        "blocks": [
            { "type": "section", "text": { "type": "mrkdwn", "text": section.trim_end() } },
            { "type": "context", "elements": [{ "type": "mrkdwn", "text": context.join(" · ") }] },
        ],
    })
}

/// Text for Slack's `mrkdwn`: `&`, `<` and `>` are its control characters (a respondent's
/// comment must not ping `<!channel>` or make links).
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Milliseconds since the epoch as an RFC 3339 time in UTC, to the millisecond.
fn time(millis: i64) -> String {
    jiff::Timestamp::from_millisecond(millis)
        .map(|at| at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::JourneyStep;
    use touchstone_shared::Score;

    fn detractor() -> AnswerContext {
        AnswerContext {
            site_key: "demo".into(),
            event_id: uuid::Uuid::from_u128(7),
            visitor: uuid::Uuid::from_u128(8),
            at: 1_763_900_004_000,
            received_at: 1_763_900_005_000,
            score: Score::try_from(3).unwrap(),
            comment: Some("Slow <!channel> & rude".into()),
            survey: "nps".into(),
            language: Some("en".into()),
            device: Some("mobile".into()),
            customer: Some("cus_42".into()),
            traits: [("plan".to_owned(), "pro".to_owned())].into(),
            journey: vec![
                JourneyStep {
                    name: "support_contact".into(),
                    url: Some("https://shop.example/help".into()),
                    at: 1_763_900_000_000,
                },
                JourneyStep {
                    name: "page_view".into(),
                    url: Some("https://shop.example/old".into()),
                    at: 1_763_000_000_000,
                },
            ],
        }
    }

    #[test]
    fn the_standard_payload_holds_the_answer_customer_and_journey() {
        let body: Value = serde_json::from_str(&answer(
            Format::Standard,
            &detractor(),
            86_400_000,
            1_763_900_006_000,
        ))
        .unwrap();
        assert_eq!(body["type"], "nps.answer");
        assert_eq!(body["timestamp"], "2025-11-23T12:13:26.000Z");
        let data = &body["data"];
        assert_eq!(data["site"], "demo");
        assert_eq!(data["response"]["id"], uuid::Uuid::from_u128(7).to_string());
        assert_eq!(data["response"]["score"], 3);
        assert_eq!(data["response"]["category"], "detractor");
        assert_eq!(data["response"]["comment"], "Slow <!channel> & rude");
        assert_eq!(data["response"]["answered_at"], "2025-11-23T12:13:24.000Z");
        assert_eq!(
            data["customer"],
            json!({ "id": "cus_42", "traits": { "plan": "pro" } })
        );
        // The page view from ten days before is outside the one-day window.
        assert_eq!(
            data["journey"],
            json!([{ "name": "support_contact", "url": "https://shop.example/help",
                     "at": "2025-11-23T12:13:20.000Z" }])
        );
    }

    #[test]
    fn an_anonymous_answer_has_no_customer() {
        let mut anonymous = detractor();
        anonymous.customer = None;
        let body: Value =
            serde_json::from_str(&answer(Format::Standard, &anonymous, 1, 0)).unwrap();
        assert_eq!(body["data"]["customer"], Value::Null);
    }

    #[test]
    fn the_slack_message_escapes_what_respondents_wrote() {
        let body: Value =
            serde_json::from_str(&answer(Format::Slack, &detractor(), 86_400_000, 0)).unwrap();
        let text = body["text"].as_str().unwrap();
        assert!(
            text.starts_with("Detractor 3/10 on demo (nps survey) from customer cus_42"),
            "{text}"
        );
        assert!(text.contains("&lt;!channel&gt; &amp; rude"), "{text}");
        assert!(!text.contains("<!channel>"), "{text}");
        let section = body["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(section.contains("> Slow &lt;!channel&gt;"), "{section}");
        let context = body["blocks"][1]["elements"][0]["text"].as_str().unwrap();
        assert!(context.contains("plan: pro"), "{context}");
        assert!(context.contains("Journey: support_contact"), "{context}");
        assert_eq!(body["blocks"][1]["type"], "context");
    }

    #[test]
    fn a_test_delivery_says_what_it_is() {
        let body: Value = serde_json::from_str(&test(Format::Standard, "demo", 4, 0)).unwrap();
        assert_eq!(body["type"], "webhook.test");
        assert_eq!(body["data"]["subscription"], 4);
        let slack: Value = serde_json::from_str(&test(Format::Slack, "demo", 4, 0)).unwrap();
        assert!(slack["text"].as_str().unwrap().contains("webhook 4"));
    }
}

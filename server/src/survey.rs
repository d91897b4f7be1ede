//! Survey configuration on the collector's side: reading the TOML file a site owner writes, the
//! configuration a site runs (its own, or the defaults), and the `survey` parameter of reports.
//! The types and their rules are `touchstone_shared::survey`'s, which the widget parses too.

use crate::error::ApiError;
use crate::site::Site;
use crate::store::{Store, StoreError};
use touchstone_shared::SurveyId;
use touchstone_shared::survey::SiteSurveys;

/// The largest survey configuration accepted, in bytes, as a file or a request body: twenty
/// surveys with texts in a dozen languages fit many times over.
pub const MAX_CONFIG_BYTES: usize = 64 * 1024;

/// Reads a survey configuration written as TOML; the error names the line and what is wrong.
pub fn from_toml(text: &str) -> Result<SiteSurveys, String> {
    if text.len() > MAX_CONFIG_BYTES {
        return Err(format!(
            "a survey configuration is at most {MAX_CONFIG_BYTES} bytes, not {}",
            text.len()
        ));
    }
    toml::from_str(text).map_err(|error| error.to_string())
}

/// The configuration `site` runs: what its owner stored, or the defaults for new sites.
pub async fn surveys_of(store: &dyn Store, site: &Site) -> Result<SiteSurveys, StoreError> {
    Ok(store
        .site_surveys(site)
        .await?
        .unwrap_or_else(SiteSurveys::default_for_new_sites))
}

/// The optional `survey` query parameter of the reports.
pub fn survey_param(text: Option<&str>) -> Result<Option<SurveyId>, ApiError> {
    text.map(|text| {
        SurveyId::parse(text)
            .map_err(|error| ApiError::InvalidParameter(format!("`survey`: {error}")))
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use touchstone_shared::eligibility::Trigger;

    #[test]
    fn the_documented_example_reads() {
        let surveys = from_toml(
            r##"
            [[surveys]]
            id = "nps"

            [surveys.targeting]
            sample = 25
            pages = ["/pricing", "/blog/*"]
            trigger = { type = "page_views", count = 3 }
            recontact_days_after_answer = 90
            recontact_days_after_dismissal = 30

            [surveys.texts.en]
            question = "How likely are you to recommend Acme to a friend or colleague?"
            follow_up_detractor = "We are sorry. What went wrong?"

            [theme]
            accent = "#0b57d0"
            radius = 12
            position = "bottom-right"
            "##,
        )
        .unwrap();
        let [nps] = surveys.surveys() else {
            panic!("one survey");
        };
        assert_eq!(nps.targeting.trigger, Trigger::PageViews { count: 3 });
        assert_eq!(nps.targeting.pages.len(), 2);
    }

    #[test]
    fn mistakes_are_reported_with_their_line() {
        let error = from_toml("[[surveys]]\nid = \"nps\"\n[surveys.targeting]\ntrigger = { type = \"page_views\", count = -1 }\n")
            .unwrap_err();
        assert!(error.contains("line 4"), "{error}");
        let error = from_toml("[[surveys]]\nid = \"nps\"\ntargetting = 1\n").unwrap_err();
        assert!(error.contains("unknown field"), "{error}");
        let error = from_toml(&"#".repeat(MAX_CONFIG_BYTES + 1)).unwrap_err();
        assert!(error.contains("at most"), "{error}");
    }

    #[test]
    fn the_survey_parameter_is_checked() {
        assert_eq!(survey_param(None).unwrap(), None);
        assert_eq!(survey_param(Some("nps")).unwrap().unwrap().as_str(), "nps");
        assert!(matches!(
            survey_param(Some("No Such")),
            Err(ApiError::InvalidParameter(_))
        ));
    }
}

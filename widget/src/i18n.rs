//! The survey's languages: which one a visitor sees ([`choose`]), its built-in words, and the
//! site owner's own words for it ([`text`]), which win over the built-in ones.
//!
//! Five languages are built in: English, French, German, Spanish and Arabic (written right to
//! left). The words are one table of `&'static str`, a row per language: every byte ships to
//! every visitor, so there is no message format, no plural machinery and no JSON to parse.

use touchstone_shared::Language;
use touchstone_shared::score::Category;
use touchstone_shared::survey::Survey;

/// A language the survey speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Lang {
    /// English, also the fallback.
    #[default]
    En,
    /// French.
    Fr,
    /// German.
    De,
    /// Spanish.
    Es,
    /// Arabic, written right to left.
    Ar,
}

/// Each built-in language's code (its BCP 47 primary subtag), in [`Lang`]'s order.
const CODES: [&str; 5] = ["en", "fr", "de", "es", "ar"];

impl Lang {
    /// Every built-in language.
    pub const ALL: [Lang; 5] = [Lang::En, Lang::Fr, Lang::De, Lang::Es, Lang::Ar];

    /// The language of a BCP 47 tag (`fr`, `fr-CA`, `AR_eg`), if it is built in.
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next()?;
        let index = CODES
            .iter()
            .position(|code| code.eq_ignore_ascii_case(primary))?;
        Some(Lang::ALL[index])
    }

    /// The language code, for the `lang` attribute: `en`, `fr`, `de`, `es` or `ar`.
    pub fn code(self) -> &'static str {
        CODES[self as usize]
    }

    /// True for languages written right to left, whose layout is mirrored.
    pub fn is_rtl(self) -> bool {
        self == Lang::Ar
    }

    /// The language as the answer carries it.
    pub fn language(self) -> Language {
        match Language::parse(self.code()) {
            Ok(language) => language,
            // The codes are fixed, and a unit test parses each one.
            Err(_) => unreachable!(),
        }
    }

    /// The built-in words for `text`.
    pub fn builtin(self, text: Text) -> &'static str {
        WORDS[self as usize][text as usize]
    }
}

/// Every piece of text the survey shows or announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Text {
    /// The question.
    Question,
    /// The label under 0.
    LowLabel,
    /// The label under 10.
    HighLabel,
    /// The follow-up question after 9 or 10.
    FollowUpPromoter,
    /// The follow-up question after 7 or 8.
    FollowUpPassive,
    /// The follow-up question after 0 to 6.
    FollowUpDetractor,
    /// The thank-you at the end.
    Thanks,
    /// The line under the thank-you.
    ThanksDetail,
    /// The survey's accessible name.
    SurveyName,
    /// The close button's accessible name.
    Close,
    /// The button that sends the follow-up.
    Send,
    /// The button that sends the score without a comment.
    Skip,
    /// Announced while the answer is on its way.
    Sending,
    /// Shown when the answer could not be sent.
    SendFailed,
    /// The button that sends a failed answer again.
    Retry,
}

/// How many [`Text`]s there are.
const TEXTS: usize = Text::Retry as usize + 1;

/// The built-in words: a row per [`Lang`], a column per [`Text`], in declaration order.
const WORDS: [[&str; TEXTS]; 5] = [
    [
        "How likely are you to recommend us to a friend or colleague?",
        "Not at all likely",
        "Extremely likely",
        "Glad to hear it! What do you like most?",
        "Thanks! What would make it a 10?",
        "Sorry to hear that. What could we do better?",
        "Thank you!",
        "Your feedback helps us improve.",
        "Feedback survey",
        "Close the survey",
        "Send",
        "Skip",
        "Sending…",
        "Sorry, your answer could not be sent.",
        "Try again",
    ],
    [
        "Quelle est la probabilité que vous nous recommandiez à un ami ou un collègue\u{a0}?",
        "Pas du tout probable",
        "Extrêmement probable",
        "Ravis de l’entendre\u{a0}! Qu’appréciez-vous le plus\u{a0}?",
        "Merci\u{a0}! Que faudrait-il pour mériter un 10\u{a0}?",
        "Nous en sommes désolés. Que pourrions-nous améliorer\u{a0}?",
        "Merci\u{a0}!",
        "Votre avis nous aide à nous améliorer.",
        "Enquête de satisfaction",
        "Fermer l’enquête",
        "Envoyer",
        "Passer",
        "Envoi en cours…",
        "Désolés, votre réponse n’a pas pu être envoyée.",
        "Réessayer",
    ],
    [
        "Wie wahrscheinlich ist es, dass Sie uns einem Freund oder Kollegen empfehlen?",
        "Überhaupt nicht wahrscheinlich",
        "Äußerst wahrscheinlich",
        "Das freut uns! Was gefällt Ihnen am besten?",
        "Danke! Was fehlt uns zu einer 10?",
        "Das tut uns leid. Was können wir besser machen?",
        "Vielen Dank!",
        "Ihr Feedback hilft uns, besser zu werden.",
        "Feedback-Umfrage",
        "Umfrage schließen",
        "Senden",
        "Überspringen",
        "Wird gesendet…",
        "Ihre Antwort konnte leider nicht gesendet werden.",
        "Erneut versuchen",
    ],
    [
        "¿Qué probabilidad hay de que nos recomiende a un amigo o colega?",
        "Nada probable",
        "Muy probable",
        "¡Nos alegra saberlo! ¿Qué es lo que más le gusta?",
        "¡Gracias! ¿Qué haría falta para un 10?",
        "Lamentamos oír eso. ¿Qué podríamos mejorar?",
        "¡Gracias!",
        "Su opinión nos ayuda a mejorar.",
        "Encuesta de opinión",
        "Cerrar la encuesta",
        "Enviar",
        "Omitir",
        "Enviando…",
        "Lo sentimos, no se pudo enviar su respuesta.",
        "Reintentar",
    ],
    [
        "ما مدى احتمال أن توصي بنا لصديق أو زميل؟",
        "غير محتمل إطلاقًا",
        "محتمل للغاية",
        "يسعدنا ذلك! ما أكثر ما يعجبك؟",
        "شكرًا! ما الذي يجعل تقييمك 10؟",
        "نأسف لذلك. ما الذي يمكننا تحسينه؟",
        "شكرًا لك!",
        "ملاحظاتك تساعدنا على التحسن.",
        "استبيان الرأي",
        "إغلاق الاستبيان",
        "إرسال",
        "تخطٍّ",
        "جارٍ الإرسال…",
        "عذرًا، تعذّر إرسال إجابتك.",
        "إعادة المحاولة",
    ],
];

/// The follow-up question for a score's category.
pub fn follow_up(category: Category) -> Text {
    match category {
        Category::Promoter => Text::FollowUpPromoter,
        Category::Passive => Text::FollowUpPassive,
        Category::Detractor => Text::FollowUpDetractor,
    }
}

/// The words for `text` in `lang`: the site owner's, when the survey's configuration gives them
/// for that language, else the built-in ones.
pub fn text(survey: &Survey, lang: Lang, text: Text) -> &str {
    let owners = survey
        .texts
        .iter()
        .find(|(language, _)| language.as_str() == lang.code())
        .map(|(_, texts)| texts);
    let given = owners.and_then(|texts| match text {
        Text::Question => texts.question.as_ref(),
        Text::LowLabel => texts.low_label.as_ref(),
        Text::HighLabel => texts.high_label.as_ref(),
        Text::FollowUpPromoter => texts.follow_up_promoter.as_ref(),
        Text::FollowUpPassive => texts.follow_up_passive.as_ref(),
        Text::FollowUpDetractor => texts.follow_up_detractor.as_ref(),
        Text::Thanks => texts.thanks.as_ref(),
        _ => None,
    });
    match given {
        Some(words) => words.as_str(),
        None => lang.builtin(text),
    }
}

/// The visitor's language: the first built-in one among `override_tag` (the site's choice), the
/// page's `<html lang>`, and the browser's preferred languages (`navigator.languages`), else
/// English.
pub fn choose(override_tag: Option<&str>) -> Lang {
    let window = web_sys::window();
    let page = window
        .as_ref()
        .and_then(|window| window.document())
        .and_then(|document| document.document_element())
        .and_then(|html| html.get_attribute("lang"));
    let browser: Vec<String> = window
        .map(|window| {
            window
                .navigator()
                .languages()
                .iter()
                .filter_map(|tag| tag.as_string())
                .collect()
        })
        .unwrap_or_default();
    pick(
        override_tag
            .into_iter()
            .chain(page.as_deref())
            .chain(browser.iter().map(String::as_str)),
    )
}

/// The first built-in language among `tags`, in order of preference, else English.
pub fn pick<'a>(tags: impl IntoIterator<Item = &'a str>) -> Lang {
    tags.into_iter()
        .find_map(Lang::from_tag)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use touchstone_shared::survey::{SiteSurveys, Texts};
    use touchstone_shared::{Score, SurveyText};

    #[test]
    fn tags_are_matched_by_their_primary_subtag() {
        assert_eq!(Lang::from_tag("fr-CA"), Some(Lang::Fr));
        assert_eq!(Lang::from_tag("AR_eg"), Some(Lang::Ar));
        assert_eq!(Lang::from_tag(" de "), Some(Lang::De));
        assert_eq!(Lang::from_tag("es-419"), Some(Lang::Es));
        assert_eq!(Lang::from_tag("pt-BR"), None);
        assert_eq!(Lang::from_tag("eng"), None);
        assert_eq!(Lang::from_tag(""), None);
    }

    #[test]
    fn the_first_built_in_language_wins_and_english_is_the_fallback() {
        assert_eq!(pick(["es", "fr"]), Lang::Es);
        assert_eq!(pick(["pt-BR", "nl", "de-AT", "fr"]), Lang::De);
        assert_eq!(pick(["pt", "ja"]), Lang::En);
        assert_eq!(pick([]), Lang::En);
    }

    #[test]
    fn every_code_is_a_language_and_only_arabic_is_right_to_left() {
        for lang in Lang::ALL {
            assert_eq!(lang.language().as_str(), lang.code());
            assert_eq!(Lang::from_tag(lang.code()), Some(lang));
            assert_eq!(lang.is_rtl(), lang == Lang::Ar);
        }
    }

    #[test]
    fn every_language_has_every_text() {
        for lang in Lang::ALL {
            for (index, words) in WORDS[lang as usize].iter().enumerate() {
                assert!(!words.trim().is_empty(), "{lang:?} text {index}");
                // A survey text must be something an owner could have written too.
                SurveyText::parse(words).unwrap();
            }
        }
        let questions: std::collections::BTreeSet<_> = Lang::ALL
            .iter()
            .map(|lang| lang.builtin(Text::Question))
            .collect();
        assert_eq!(questions.len(), 5, "each language has its own question");
    }

    #[test]
    fn the_follow_up_depends_on_the_category() {
        let follow_up_of = |value: u8| follow_up(Score::try_from(value).unwrap().category());
        for value in 0..=6 {
            assert_eq!(follow_up_of(value), Text::FollowUpDetractor);
        }
        for value in 7..=8 {
            assert_eq!(follow_up_of(value), Text::FollowUpPassive);
        }
        for value in 9..=10 {
            assert_eq!(follow_up_of(value), Text::FollowUpPromoter);
        }
    }

    #[test]
    fn the_owners_words_win_in_their_language_only() {
        let mut survey = SiteSurveys::default_for_new_sites().surveys()[0].clone();
        let french = Texts {
            question: Some(SurveyText::parse("Recommanderiez-vous Acme ?").unwrap()),
            follow_up_detractor: Some(SurveyText::parse("Qu’est-ce qui a coincé ?").unwrap()),
            ..Texts::default()
        };
        survey.texts = BTreeMap::from([(Language::parse("fr-CA").unwrap(), french)]);

        assert_eq!(
            text(&survey, Lang::Fr, Text::Question),
            "Recommanderiez-vous Acme ?"
        );
        assert_eq!(
            text(&survey, Lang::Fr, Text::FollowUpDetractor),
            "Qu’est-ce qui a coincé ?"
        );
        assert_eq!(
            text(&survey, Lang::Fr, Text::FollowUpPromoter),
            Lang::Fr.builtin(Text::FollowUpPromoter)
        );
        assert_eq!(
            text(&survey, Lang::En, Text::Question),
            Lang::En.builtin(Text::Question)
        );
    }
}

//! Browser tests of the widget's components, run in headless Chromium by `cargo xtask test`
//! (through wasm-bindgen-test-runner). Each test mounts into its own shadow root, drives the
//! components as a visitor would, and checks what they show, where focus is, how they look
//! (computed styles and boxes), and what they report up. The real network path, real key
//! presses and screenshots are covered by the end-to-end test against a running collector.
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use touchstone_shared::survey::{
    Colour, Position, SiteSurveys, Survey as SurveyConfig, Texts, Theme,
};
use touchstone_shared::{Language, Score, SurveyText};
use touchstone_widget::components::{
    Answer, Closed, Scale, ScaleProps, Submit, Survey, SurveyProps,
};
use touchstone_widget::host;
use touchstone_widget::i18n::{self, Lang, Text};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::{
    Element, HtmlElement, HtmlTextAreaElement, KeyboardEvent, KeyboardEventInit, ShadowRoot,
};
use yew::Callback;

wasm_bindgen_test_configure!(run_in_browser);

/// A host element in the page with its own shadow root, removed again when dropped.
struct Mount {
    host: Element,
    shadow: ShadowRoot,
    root: Element,
}

/// What a survey is mounted with; `Setup::default()` is a new site's survey in English.
struct Setup {
    survey: SurveyConfig,
    theme: Theme,
    lang: Lang,
}

impl Default for Setup {
    fn default() -> Self {
        let defaults = SiteSurveys::default_for_new_sites();
        Setup {
            survey: defaults.surveys()[0].clone(),
            theme: defaults.theme().clone(),
            lang: Lang::En,
        }
    }
}

/// What a mounted survey reported: the answers it submitted and how it closed.
#[derive(Default)]
struct Reports {
    answers: RefCell<Vec<(u8, Option<String>)>>,
    closes: RefCell<Vec<Closed>>,
}

impl Mount {
    fn new() -> Self {
        Mount::in_parent(&document().body().unwrap(), host::STYLES)
    }

    /// A mount inside `parent`, styled with `styles`.
    fn in_parent(parent: &Element, styles: &str) -> Self {
        let document = document();
        let host = document.create_element("div").unwrap();
        let root = host::attach(&document, &host, styles).unwrap();
        parent.append_child(&host).unwrap();
        let shadow = host.shadow_root().unwrap();
        Mount { host, shadow, root }
    }

    /// A survey with `setup`, whose submissions answer `stored`.
    fn survey(setup: Setup, stored: bool) -> (Self, Rc<Reports>) {
        let (submit, reports) = recording(stored);
        let mount = Mount::new();
        mount.render(setup, submit, &reports);
        (mount, reports)
    }

    fn render(&self, setup: Setup, submit: Submit, reports: &Rc<Reports>) {
        let seen = Rc::clone(reports);
        let props = SurveyProps {
            survey: Rc::new(setup.survey),
            theme: Rc::new(setup.theme),
            lang: setup.lang,
            submit,
            on_close: Callback::from(move |closed| seen.closes.borrow_mut().push(closed)),
        };
        yew::Renderer::<Survey>::with_root_and_props(self.root.clone(), props).render();
    }

    fn find(&self, selector: &str) -> Option<HtmlElement> {
        self.shadow
            .query_selector(selector)
            .unwrap()
            .map(|element| element.unchecked_into())
    }

    fn get(&self, selector: &str) -> HtmlElement {
        self.find(selector)
            .unwrap_or_else(|| panic!("nothing matches {selector}"))
    }

    fn all(&self, selector: &str) -> Vec<HtmlElement> {
        let list = self.shadow.query_selector_all(selector).unwrap();
        (0..list.length())
            .map(|index| list.get(index).unwrap().unchecked_into())
            .collect()
    }

    fn state(&self) -> Option<String> {
        self.find("[data-touchstone-state]")
            .map(|node| node.get_attribute("data-touchstone-state").unwrap())
    }

    fn text(&self, selector: &str) -> String {
        self.get(selector).text_content().unwrap()
    }

    fn active(&self) -> Option<Element> {
        self.shadow.active_element()
    }

    fn active_score(&self) -> Option<String> {
        self.active()
            .and_then(|element| element.get_attribute("data-score"))
    }

    fn active_is(&self, selector: &str) -> bool {
        self.active()
            .is_some_and(|element| element.matches(selector).unwrap())
    }

    /// Presses `key` on whatever has focus in the survey.
    fn press(&self, key: &str) {
        let active = self.active().expect("focus inside the survey");
        press(&active, key);
    }

    /// What Enter or Space does on a focused button: the browser delivers a click.
    fn activate(&self) {
        self.active()
            .expect("focus inside the survey")
            .unchecked_into::<HtmlElement>()
            .click();
    }

    fn write(&self, text: &str) {
        self.get("textarea")
            .unchecked_into::<HtmlTextAreaElement>()
            .set_value(text);
    }

    fn style(&self, selector: &str, property: &str) -> String {
        style(&self.get(selector), property)
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        self.host.remove();
    }
}

fn document() -> web_sys::Document {
    web_sys::window().unwrap().document().unwrap()
}

fn style(element: &Element, property: &str) -> String {
    web_sys::window()
        .unwrap()
        .get_computed_style(element)
        .unwrap()
        .unwrap()
        .get_property_value(property)
        .unwrap()
        .trim()
        .to_owned()
}

fn score(value: u8) -> Score {
    Score::try_from(value).unwrap()
}

fn text(value: &str) -> SurveyText {
    SurveyText::parse(value).unwrap()
}

/// A submit function that records the answers it is given and answers with `stored`.
fn recording(stored: bool) -> (Submit, Rc<Reports>) {
    let reports = Rc::new(Reports::default());
    let seen = Rc::clone(&reports);
    let submit = Submit::new(move |answer: Answer| {
        seen.answers.borrow_mut().push((
            answer.score.value(),
            answer.comment.map(|comment| comment.as_str().to_owned()),
        ));
        async move { stored }
    });
    (submit, reports)
}

/// Lets Yew render, run its effects, and the spawned sends settle.
async fn settle() {
    for _ in 0..4 {
        yew::scheduler::flush().await;
        let promise = js_sys::Promise::resolve(&wasm_bindgen::JsValue::NULL);
        wasm_bindgen_futures::JsFuture::from(promise).await.unwrap();
    }
}

fn press(target: &Element, key: &str) {
    let init = KeyboardEventInit::new();
    init.set_key(key);
    init.set_bubbles(true);
    init.set_cancelable(true);
    init.set_composed(true);
    let event = KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &init).unwrap();
    target.dispatch_event(&event).unwrap();
}

/// A focusable button in the page itself, where focus starts.
fn page_button() -> HtmlElement {
    let button: HtmlElement = document()
        .create_element("button")
        .unwrap()
        .unchecked_into();
    button.set_text_content(Some("page"));
    document().body().unwrap().append_child(&button).unwrap();
    button
}

#[wasm_bindgen_test]
async fn the_host_is_the_only_thing_added_to_the_page() {
    let document = document();
    let body = document.body().unwrap();
    let before = body.child_element_count();

    let root = host::mount(host::STYLES).unwrap();
    let host_element = document.get_element_by_id(host::HOST_ID).unwrap();
    assert_eq!(body.child_element_count(), before + 1);
    assert_eq!(
        body.last_element_child().unwrap(),
        host_element,
        "appended at the end of <body>"
    );
    let shadow = host_element.shadow_root().expect("an open shadow root");
    assert!(
        shadow.contains(Some(&root)),
        "the mount point lives in the shadow root"
    );
    assert_eq!(
        shadow.adopted_style_sheets().length(),
        1,
        "styles come from a constructed sheet"
    );
    assert!(matches!(
        host::mount(host::STYLES),
        Err(host::HostError::AlreadyMounted)
    ));

    let (submit, reports) = recording(true);
    let setup = Setup::default();
    let props = SurveyProps {
        survey: Rc::new(setup.survey),
        theme: Rc::new(setup.theme),
        lang: setup.lang,
        submit,
        on_close: Callback::noop(),
    };
    yew::Renderer::<Survey>::with_root_and_props(root, props).render();
    settle().await;
    assert!(
        shadow
            .query_selector("[data-touchstone-state]")
            .unwrap()
            .is_some()
    );
    assert_eq!(
        shadow.adopted_style_sheets().length(),
        2,
        "the theme comes as a second constructed sheet"
    );
    assert!(
        shadow.query_selector("style").unwrap().is_none(),
        "no <style> element"
    );
    assert!(
        shadow.query_selector("[style]").unwrap().is_none(),
        "no inline style attributes"
    );
    // In the page's own tree the host stays an empty <div id>: everything is in the shadow tree.
    assert_eq!(host_element.child_nodes().length(), 0);
    assert_eq!(host_element.attributes().length(), 1);
    assert_eq!(body.child_element_count(), before + 1);
    assert!(reports.answers.borrow().is_empty());
    host_element.remove();
}

#[wasm_bindgen_test]
async fn the_survey_asks_with_eleven_labelled_choices() {
    let (mount, reports) = Mount::survey(Setup::default(), true);
    settle().await;

    assert_eq!(mount.state().as_deref(), Some("asking"));
    let region = mount.get("[data-touchstone-state]");
    assert_eq!(region.tag_name(), "SECTION", "a region, not a modal dialog");
    assert_eq!(
        region.get_attribute("aria-label").unwrap(),
        "Feedback survey"
    );
    assert_eq!(region.get_attribute("lang").unwrap(), "en");
    assert_eq!(region.get_attribute("dir").unwrap(), "ltr");
    let question = mount.get("h2");
    assert_eq!(
        question.text_content().unwrap(),
        "How likely are you to recommend us to a friend or colleague?"
    );
    let group = mount.get("[role=radiogroup]");
    assert_eq!(
        group.get_attribute("aria-labelledby").unwrap(),
        question.id()
    );
    let choices = mount.all("[role=radio]");
    assert_eq!(choices.len(), 11);
    for (value, choice) in choices.iter().enumerate() {
        assert_eq!(
            choice.get_attribute("data-score").unwrap(),
            value.to_string()
        );
        assert_eq!(choice.text_content().unwrap(), value.to_string());
        assert_eq!(choice.get_attribute("aria-checked").unwrap(), "false");
    }
    assert_eq!(
        choices[0].get_attribute("aria-label").unwrap(),
        "0, Not at all likely"
    );
    assert_eq!(
        choices[10].get_attribute("aria-label").unwrap(),
        "10, Extremely likely"
    );
    assert_eq!(
        mount.get(".ends").get_attribute("aria-hidden").as_deref(),
        Some("true")
    );
    assert!(mount.text(".ends").contains("Not at all likely"));
    assert_eq!(
        mount.get(".close").get_attribute("aria-label").unwrap(),
        "Close the survey"
    );
    assert!(
        reports.answers.borrow().is_empty(),
        "nothing is sent before a choice"
    );
}

#[wasm_bindgen_test]
async fn a_score_leads_to_the_follow_up_and_both_are_sent_together() {
    let (mount, reports) = Mount::survey(Setup::default(), true);
    settle().await;

    mount.get("[data-score='9']").click();
    settle().await;
    assert_eq!(mount.state().as_deref(), Some("follow-up"));
    assert!(
        reports.answers.borrow().is_empty(),
        "the score waits for the follow-up"
    );
    assert!(mount.active_is("textarea"), "focus moves to the text box");
    let label = mount.get("label[for]");
    assert_eq!(
        label.get_attribute("for").unwrap(),
        mount.get("textarea").id()
    );
    assert_eq!(
        label.text_content().unwrap(),
        Lang::En.builtin(Text::FollowUpPromoter)
    );

    mount.write("  Quick delivery.\n");
    mount.get(".send").click();
    settle().await;
    assert_eq!(
        *reports.answers.borrow(),
        [(9, Some("Quick delivery.".to_owned()))]
    );
    assert_eq!(mount.state().as_deref(), Some("thanks"));
    assert!(mount.text("[role=status]").contains("Thank you!"));
    assert!(
        mount.find("textarea").is_none(),
        "the form gives way to the thanks"
    );
    assert!(mount.active_is(".close"), "focus stays in the survey");
    assert!(reports.closes.borrow().is_empty());

    mount.get(".close").click();
    settle().await;
    assert_eq!(*reports.closes.borrow(), [Closed::Finished]);
    assert_eq!(mount.state(), None);
}

#[wasm_bindgen_test]
async fn skipping_or_leaving_the_text_blank_sends_the_score_alone() {
    for button in [".skip", ".send"] {
        let (mount, reports) = Mount::survey(Setup::default(), true);
        settle().await;
        mount.get("[data-score='3']").click();
        settle().await;
        if button == ".skip" {
            mount.write("typed, then skipped");
        } else {
            mount.write("   ");
        }
        mount.get(button).click();
        settle().await;
        assert_eq!(*reports.answers.borrow(), [(3, None)], "{button}");
        assert_eq!(mount.state().as_deref(), Some("thanks"), "{button}");
    }
}

#[wasm_bindgen_test]
async fn the_survey_shows_sending_until_the_answer_is_safe() {
    let release: Rc<RefCell<Option<futures_channel_shim::Sender>>> = Rc::default();
    let slot = Rc::clone(&release);
    let submit = Submit::new(move |_answer| {
        let (sender, receiver) = futures_channel_shim::channel();
        *slot.borrow_mut() = Some(sender);
        receiver
    });
    let mount = Mount::new();
    let reports = Rc::new(Reports::default());
    mount.render(Setup::default(), submit, &reports);
    settle().await;

    mount.get("[data-score='4']").click();
    settle().await;
    mount.get(".send").click();
    settle().await;
    assert_eq!(mount.state().as_deref(), Some("sending"));
    assert!(mount.text("[role=status]").contains("Sending"));
    assert_eq!(
        mount.get(".send").get_attribute("aria-disabled").as_deref(),
        Some("true")
    );
    assert!(
        mount
            .get("textarea")
            .unchecked_into::<HtmlTextAreaElement>()
            .read_only()
    );
    mount.get(".send").click();
    settle().await;
    assert_eq!(
        mount.state().as_deref(),
        Some("sending"),
        "one answer at a time"
    );

    release.borrow_mut().take().unwrap().send(true);
    settle().await;
    assert_eq!(mount.state().as_deref(), Some("thanks"));
}

#[wasm_bindgen_test]
async fn a_failed_send_offers_a_retry_with_the_same_answer() {
    let (mount, reports) = Mount::survey(Setup::default(), false);
    settle().await;

    mount.get("[data-score='2']").click();
    settle().await;
    mount.write("It broke.");
    mount.get(".send").click();
    settle().await;
    assert_eq!(mount.state().as_deref(), Some("error"));
    assert!(mount.text("[role=status]").contains("could not be sent"));
    assert!(mount.find(".send").is_none(), "Retry takes Send's place");
    assert!(mount.active_is(".retry"), "focus goes to Retry");

    mount.get(".retry").click();
    settle().await;
    let sent = Some("It broke.".to_owned());
    assert_eq!(*reports.answers.borrow(), [(2, sent.clone()), (2, sent)]);
    assert_eq!(mount.state().as_deref(), Some("error"));
}

#[wasm_bindgen_test]
async fn the_close_button_dismisses_the_survey() {
    let (mount, reports) = Mount::survey(Setup::default(), true);
    settle().await;

    mount.get(".close").click();
    settle().await;
    assert_eq!(mount.state(), None);
    assert!(reports.answers.borrow().is_empty());
    assert_eq!(*reports.closes.borrow(), [Closed::Dismissed]);
}

#[wasm_bindgen_test]
async fn focus_moves_in_on_opening_and_escape_dismisses_and_gives_it_back() {
    let opener = page_button();
    opener.focus().unwrap();
    let (mount, reports) = Mount::survey(Setup::default(), true);
    settle().await;

    assert_eq!(
        document().active_element().as_ref(),
        Some(&mount.host),
        "focus is in the widget"
    );
    assert_eq!(
        mount.active_score().as_deref(),
        Some("0"),
        "on the scale's Tab stop"
    );

    mount.press("Escape");
    settle().await;
    assert_eq!(*reports.closes.borrow(), [Closed::Dismissed]);
    assert_eq!(mount.state(), None);
    assert_eq!(
        document().active_element().as_ref(),
        Some(opener.unchecked_ref::<Element>()),
        "focus is back where it was"
    );
    opener.remove();
}

#[wasm_bindgen_test]
async fn closing_at_the_follow_up_sends_the_score_and_is_no_dismissal() {
    let opener = page_button();
    opener.focus().unwrap();
    let (mount, reports) = Mount::survey(Setup::default(), true);
    settle().await;

    mount.get("[data-score='6']").click();
    settle().await;
    mount.write("not sent: the visitor closed instead");
    mount.press("Escape");
    settle().await;
    assert_eq!(*reports.answers.borrow(), [(6, None)]);
    assert_eq!(*reports.closes.borrow(), [Closed::Finished]);
    assert_eq!(
        document().active_element().as_ref(),
        Some(opener.unchecked_ref::<Element>())
    );
    opener.remove();
}

#[wasm_bindgen_test]
async fn the_keyboard_alone_answers_the_survey() {
    let (mount, reports) = Mount::survey(Setup::default(), true);
    settle().await;

    assert_eq!(
        mount.all("[role=radio][tabindex='0']").len(),
        1,
        "one Tab stop for the whole group"
    );
    assert_eq!(mount.active_score().as_deref(), Some("0"));
    mount.press("ArrowRight");
    assert_eq!(mount.active_score().as_deref(), Some("1"));
    mount.press("ArrowDown");
    assert_eq!(mount.active_score().as_deref(), Some("2"));
    mount.press("End");
    assert_eq!(mount.active_score().as_deref(), Some("10"));
    mount.press("ArrowRight");
    assert_eq!(mount.active_score().as_deref(), Some("0"), "wraps around");
    mount.press("ArrowLeft");
    assert_eq!(mount.active_score().as_deref(), Some("10"));
    mount.press("Home");
    assert_eq!(mount.active_score().as_deref(), Some("0"));
    mount.press("ArrowUp");
    mount.press("ArrowUp");
    assert_eq!(mount.active_score().as_deref(), Some("9"));
    assert_eq!(
        mount.state().as_deref(),
        Some("asking"),
        "moving chooses nothing"
    );

    // Enter or Space on the focused choice.
    mount.activate();
    settle().await;
    assert_eq!(mount.state().as_deref(), Some("follow-up"));
    assert!(mount.active_is("textarea"));
    mount.write("Keyboard only");
    // Tab goes from the text box to Send: the next focusable element in document order.
    let order: Vec<String> = mount
        .all("button, textarea")
        .iter()
        .filter(|element| element.tab_index() >= 0)
        .map(|element| element.class_name())
        .collect();
    let from = order.iter().position(|name| name == "comment").unwrap();
    assert_eq!(order[from + 1], "send", "{order:?}");
    mount.get(".send").focus().unwrap();
    mount.activate();
    settle().await;
    assert_eq!(
        *reports.answers.borrow(),
        [(9, Some("Keyboard only".to_owned()))]
    );
    assert_eq!(mount.state().as_deref(), Some("thanks"));
}

#[wasm_bindgen_test]
async fn the_arrows_follow_a_mirrored_scale() {
    let chosen = Rc::new(RefCell::new(Vec::new()));
    let seen = Rc::clone(&chosen);
    let mount = Mount::new();
    let props = ScaleProps {
        labelled_by: "question".into(),
        low: "low".into(),
        high: "high".into(),
        rtl: true,
        selected: None,
        busy: false,
        on_choose: Callback::from(move |score: Score| seen.borrow_mut().push(score.value())),
    };
    yew::Renderer::<Scale>::with_root_and_props(mount.root.clone(), props).render();
    settle().await;

    mount.get("[data-score='4']").focus().unwrap();
    mount.press("ArrowRight");
    assert_eq!(mount.active_score().as_deref(), Some("3"), "right is lower");
    mount.press("ArrowLeft");
    mount.press("ArrowLeft");
    assert_eq!(mount.active_score().as_deref(), Some("5"));
    assert!(chosen.borrow().is_empty());
}

#[wasm_bindgen_test]
async fn the_follow_up_depends_on_the_category_and_the_owners_words() {
    let mut owners = Setup::default();
    owners.survey.texts = BTreeMap::from([(
        Language::parse("en").unwrap(),
        Texts {
            follow_up_passive: Some(text("What is missing?")),
            ..Texts::default()
        },
    )]);
    let expected_passive = "What is missing?";
    for value in 0..=10u8 {
        let (mount, _) = Mount::survey(Setup::default(), true);
        settle().await;
        mount.get(&format!("[data-score='{value}']")).click();
        settle().await;
        let expected = i18n::follow_up(score(value).category());
        assert_eq!(
            mount.text("label"),
            Lang::En.builtin(expected),
            "score {value}"
        );
    }
    for (value, expected) in [
        (7, expected_passive),
        (8, expected_passive),
        (3, Lang::En.builtin(Text::FollowUpDetractor)),
        (10, Lang::En.builtin(Text::FollowUpPromoter)),
    ] {
        let setup = Setup {
            survey: owners.survey.clone(),
            ..Setup::default()
        };
        let (mount, _) = Mount::survey(setup, true);
        settle().await;
        mount.get(&format!("[data-score='{value}']")).click();
        settle().await;
        assert_eq!(mount.text("label"), expected, "score {value}");
    }
}

#[wasm_bindgen_test]
async fn each_language_asks_in_its_own_words_and_arabic_is_right_to_left() {
    for (tag, lang) in [
        ("en-GB", Lang::En),
        ("fr-CA", Lang::Fr),
        ("de", Lang::De),
        ("es-419", Lang::Es),
        ("ar-EG", Lang::Ar),
    ] {
        assert_eq!(i18n::choose(Some(tag)), lang, "{tag}");
        let (mount, _) = Mount::survey(
            Setup {
                lang,
                ..Setup::default()
            },
            true,
        );
        settle().await;
        let region = mount.get("[data-touchstone-state]");
        assert_eq!(mount.text("h2"), lang.builtin(Text::Question), "{tag}");
        assert_eq!(
            mount.text(".ends span"),
            lang.builtin(Text::LowLabel),
            "{tag}"
        );
        assert_eq!(region.get_attribute("lang").unwrap(), lang.code());
        let dir = if lang == Lang::Ar { "rtl" } else { "ltr" };
        assert_eq!(region.get_attribute("dir").unwrap(), dir, "{tag}");
        assert_eq!(style(&region, "direction"), dir, "{tag}");
    }
}

#[wasm_bindgen_test]
async fn the_language_comes_from_the_override_then_the_page_then_the_browser() {
    let html = document().document_element().unwrap();
    let before = html.get_attribute("lang");
    html.set_attribute("lang", "de-CH").unwrap();
    assert_eq!(i18n::choose(None), Lang::De, "the page's <html lang>");
    assert_eq!(i18n::choose(Some("es")), Lang::Es, "the site's override");
    assert_eq!(i18n::choose(Some("pt")), Lang::De, "an unknown override");
    html.set_attribute("lang", "pt-BR").unwrap();
    // Headless Chromium prefers en-US.
    assert_eq!(i18n::choose(None), Lang::En, "the browser's languages");
    match before {
        Some(lang) => html.set_attribute("lang", &lang).unwrap(),
        None => html.remove_attribute("lang").unwrap(),
    }
}

#[wasm_bindgen_test]
async fn right_to_left_mirrors_the_scale_and_swaps_the_corner() {
    for (position, lang, corner) in [
        (Position::BottomRight, Lang::En, "right"),
        (Position::BottomRight, Lang::Ar, "left"),
        (Position::BottomLeft, Lang::En, "left"),
        (Position::BottomLeft, Lang::Ar, "right"),
    ] {
        let setup = Setup {
            lang,
            theme: Theme {
                position,
                ..Theme::default()
            },
            ..Setup::default()
        };
        let (mount, _) = Mount::survey(setup, true);
        settle().await;
        let card = mount.get(".card");
        let rect = card.get_bounding_client_rect();
        let width = f64::from(document().document_element().unwrap().client_width());
        let gap = if corner == "left" {
            rect.left()
        } else {
            width - rect.right()
        };
        assert!(
            (gap - 16.0).abs() < 1.0,
            "{position:?} {lang:?}: {gap}px from the {corner}"
        );
        let zero = mount.get("[data-score='0']").get_bounding_client_rect();
        let ten = mount.get("[data-score='10']").get_bounding_client_rect();
        assert_eq!(
            zero.left() > ten.left(),
            lang.is_rtl(),
            "0 is on the right in Arabic"
        );
    }
}

#[wasm_bindgen_test]
async fn the_centre_position_is_a_modal_dialog_closed_by_its_backdrop() {
    let opener = page_button();
    opener.focus().unwrap();
    let setup = Setup {
        theme: Theme {
            position: Position::Center,
            ..Theme::default()
        },
        ..Setup::default()
    };
    let (mount, reports) = Mount::survey(setup, true);
    settle().await;

    let dialog = mount.get("dialog");
    assert_eq!(
        dialog.get_attribute("data-touchstone-state").as_deref(),
        Some("asking")
    );
    assert!(dialog.matches(":modal").unwrap(), "opened with showModal()");
    assert_eq!(
        dialog.get_attribute("aria-label").as_deref(),
        Some("Feedback survey")
    );
    assert_eq!(mount.active_score().as_deref(), Some("0"));

    // A click on the dialog element itself is a click on its backdrop.
    mount.get(".choice").click();
    settle().await;
    assert!(
        reports.closes.borrow().is_empty(),
        "a click inside is no dismissal"
    );
    let fresh = Setup {
        theme: Theme {
            position: Position::Center,
            ..Theme::default()
        },
        ..Setup::default()
    };
    drop(mount);
    opener.focus().unwrap();
    let (mount, reports) = Mount::survey(fresh, true);
    settle().await;
    mount.get("dialog").click();
    settle().await;
    assert_eq!(*reports.closes.borrow(), [Closed::Dismissed]);
    assert!(mount.find("dialog").is_none());
    assert_eq!(
        document().active_element().as_ref(),
        Some(opener.unchecked_ref::<Element>())
    );
    opener.remove();
}

#[wasm_bindgen_test]
async fn the_theme_becomes_custom_properties_in_a_constructed_sheet() {
    let setup = Setup {
        theme: Theme {
            accent: Colour::parse("#0b57d0").unwrap(),
            background: Some(Colour::parse("#fffdf5").unwrap()),
            text: Some(Colour::parse("#222222").unwrap()),
            radius: 4,
            position: Position::BottomLeft,
        },
        ..Setup::default()
    };
    let (mount, _) = Mount::survey(setup, true);
    settle().await;

    assert_eq!(mount.style(".card", "--ts-accent"), "#0b57d0");
    assert_eq!(
        mount.style(".card", "background-color"),
        "rgb(255, 253, 245)"
    );
    assert_eq!(mount.style(".card", "color"), "rgb(34, 34, 34)");
    assert_eq!(mount.style(".card", "border-top-left-radius"), "4px");
    assert!(mount.get(".card").get_attribute("data-corner").as_deref() == Some("left"));

    mount.get("[data-score='5']").click();
    settle().await;
    assert_eq!(mount.style(".send", "background-color"), "rgb(11, 87, 208)");
    assert_eq!(mount.style(".send", "color"), "rgb(255, 255, 255)");
    assert!(mount.shadow.query_selector("[style]").unwrap().is_none());
}

#[wasm_bindgen_test]
async fn the_owners_texts_and_the_visitors_comment_stay_text() {
    let hostile = "<img src=x onerror=alert(1)><script>alert(2)</script><b>Recommend?</b>";
    let mut setup = Setup::default();
    setup.survey.texts = BTreeMap::from([(
        Language::parse("en").unwrap(),
        Texts {
            question: Some(text(hostile)),
            follow_up_detractor: Some(text("<i>Why?</i>")),
            thanks: Some(text("<u>Thanks</u> &amp;")),
            ..Texts::default()
        },
    )]);
    let (mount, reports) = Mount::survey(setup, true);
    settle().await;

    assert_eq!(mount.text("h2"), hostile);
    mount.get("[data-score='1']").click();
    settle().await;
    assert_eq!(mount.text("label"), "<i>Why?</i>");
    let comment = "</textarea><script>alert(3)</script>";
    mount.write(comment);
    mount.get(".send").click();
    settle().await;
    assert_eq!(*reports.answers.borrow(), [(1, Some(comment.to_owned()))]);
    assert_eq!(mount.text(".thanks h2"), "<u>Thanks</u> &amp;");
    assert!(
        mount.find("img, script, b, i, u").is_none(),
        "no markup was made from text"
    );
}

/// The boxes and styles a hostile page would most like to change.
fn measure(mount: &Mount) -> Vec<String> {
    let mut seen = Vec::new();
    for selector in [".card", ".choice", ".close", "h2", ".ends"] {
        let element = mount.get(selector);
        let rect = element.get_bounding_client_rect();
        seen.push(format!("{selector} {}x{}", rect.width(), rect.height()));
        for property in [
            "font-size",
            "font-family",
            "line-height",
            "letter-spacing",
            "text-transform",
            "visibility",
            "padding-top",
            "display",
            "color",
        ] {
            seen.push(format!(
                "{selector} {property}: {}",
                style(&element, property)
            ));
        }
    }
    seen
}

#[wasm_bindgen_test]
async fn hostile_page_css_does_not_reach_the_survey_and_the_surveys_does_not_leak() {
    let (mount, _) = Mount::survey(Setup::default(), true);
    settle().await;
    let before = measure(&mount);

    let document = document();
    let sheet = document.create_element("style").unwrap();
    sheet.set_text_content(Some(
        "* { all: unset !important; font-size: 40px !important; font-family: serif !important; \
           color: red !important; padding: 9px !important; box-sizing: content-box !important; \
           letter-spacing: 3px !important; line-height: 3 !important; \
           text-transform: uppercase !important; visibility: hidden !important }\n\
         html { font-size: 40px !important }\n\
         div, section, button, h2 { display: block !important; width: 900px !important }\n\
         :root { --bg: red; --ts-accent: red !important; --accent: red }",
    ));
    document.head().unwrap().append_child(&sheet).unwrap();
    let after = measure(&mount);
    sheet.remove();
    assert_eq!(before, after);
    assert_eq!(mount.style(".card", "--ts-accent"), "#2f5bea");

    // The other way: the page's elements with the survey's class names keep the page's looks.
    let lookalike = document.create_element("button").unwrap();
    lookalike.set_class_name("card corner choice close");
    lookalike.set_attribute("data-corner", "right").unwrap();
    document.body().unwrap().append_child(&lookalike).unwrap();
    assert_eq!(style(&lookalike, "position"), "static");
    assert_ne!(style(&lookalike, "height"), "36px");
    assert_ne!(
        style(&lookalike, "box-shadow"),
        mount.style(".card", "box-shadow")
    );
    lookalike.remove();
}

#[wasm_bindgen_test]
async fn every_target_is_at_least_44_px_at_phone_width() {
    // A 360-pixel "phone": a transformed box is the containing block of the survey's fixed
    // card, and the phone rules are switched on by rewriting their media query, because a page
    // cannot narrow the browser's viewport. The end-to-end test checks the real thing.
    let phone = document().create_element("div").unwrap();
    phone
        .set_attribute(
            "style",
            "position: relative; transform: translateZ(0); width: 360px; height: 640px",
        )
        .unwrap();
    document().body().unwrap().append_child(&phone).unwrap();
    let styles = host::STYLES.replace("(max-width: 480px)", "(min-width: 0px)");
    assert_ne!(
        styles,
        host::STYLES,
        "the phone rules are where this test expects them"
    );
    let mount = Mount::in_parent(&phone, &styles);
    let (submit, reports) = recording(true);
    mount.render(Setup::default(), submit, &reports);
    settle().await;

    let card = mount.get(".card").get_bounding_client_rect();
    assert!(
        card.width() > 330.0,
        "the card spans the phone: {}",
        card.width()
    );
    let check = |selector: &str| {
        for target in mount.all(selector) {
            let rect = target.get_bounding_client_rect();
            assert!(
                rect.width() >= 44.0 && rect.height() >= 44.0,
                "{selector} is {}x{}",
                rect.width(),
                rect.height()
            );
        }
    };
    check(".choice");
    check(".close");
    mount.get("[data-score='8']").click();
    settle().await;
    check(".send");
    check(".skip");
    check(".close");
    drop(mount);
    phone.remove();
}

/// A one-shot channel from a test to a pending submit, without pulling in a futures crate.
mod futures_channel_shim {
    use std::cell::RefCell;
    use std::future::Future;
    use std::pin::Pin;
    use std::rc::Rc;
    use std::task::{Context, Poll, Waker};

    #[derive(Default)]
    struct Shared {
        value: Option<bool>,
        waker: Option<Waker>,
    }

    pub struct Sender(Rc<RefCell<Shared>>);
    pub struct Receiver(Rc<RefCell<Shared>>);

    pub fn channel() -> (Sender, Receiver) {
        let shared = Rc::new(RefCell::new(Shared::default()));
        (Sender(Rc::clone(&shared)), Receiver(shared))
    }

    impl Sender {
        pub fn send(self, value: bool) {
            let mut shared = self.0.borrow_mut();
            shared.value = Some(value);
            if let Some(waker) = shared.waker.take() {
                waker.wake();
            }
        }
    }

    impl Future for Receiver {
        type Output = bool;

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
            let mut shared = self.0.borrow_mut();
            match shared.value {
                Some(value) => Poll::Ready(value),
                None => {
                    shared.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        }
    }
}

/// The survey module's entry, as the loader calls it: the configuration's text, a survey id,
/// `data-lang`, and two plain JavaScript functions for the answer and the dismissal.
mod the_survey_modules_entry {
    use super::*;
    use touchstone_widget::ui;
    use wasm_bindgen::JsValue;
    use wasm_bindgen::closure::Closure;

    const CONFIG: &str = r##"{"surveys": [
        {"id": "other", "targeting": {"trigger": {"type": "manual"}}},
        {"id": "nps", "targeting": {"trigger": {"type": "page_views", "count": 2}},
         "texts": {"de": {"question": "Wie wahrscheinlich ist es?"}}}
    ], "theme": {"accent": "#0a7d5a"}}"##;

    /// What the loader's two functions heard: the `_answer` arguments, and dismissals.
    #[derive(Default)]
    struct Heard {
        answers: RefCell<Vec<(JsValue, JsValue, JsValue)>>,
        dismissals: RefCell<u32>,
    }

    /// `ui::mount` with functions that record what they hear; `submit` answers `queued`.
    fn mount(
        config: &str,
        survey: &str,
        lang: &str,
        queued: bool,
    ) -> (Result<(), JsValue>, Rc<Heard>) {
        let heard = Rc::new(Heard::default());
        let answers = Rc::clone(&heard);
        let submit = Closure::<dyn Fn(JsValue, JsValue, JsValue) -> bool>::new(
            move |score, comment, language| {
                answers
                    .answers
                    .borrow_mut()
                    .push((score, comment, language));
                queued
            },
        );
        let dismissals = Rc::clone(&heard);
        let dismissed = Closure::<dyn Fn()>::new(move || *dismissals.dismissals.borrow_mut() += 1);
        let mounted = ui::mount(
            config,
            survey,
            lang,
            submit.as_ref().unchecked_ref::<js_sys::Function>().clone(),
            dismissed
                .as_ref()
                .unchecked_ref::<js_sys::Function>()
                .clone(),
        )
        .map_err(JsValue::from);
        submit.forget();
        dismissed.forget();
        (mounted, heard)
    }

    /// The host `ui::mount` adds to the page, removed again when dropped.
    struct Placed(Element);

    impl Placed {
        fn find() -> Self {
            Placed(
                document()
                    .get_element_by_id(host::HOST_ID)
                    .expect("the survey's host is on the page"),
            )
        }

        fn get(&self, selector: &str) -> HtmlElement {
            self.0
                .shadow_root()
                .unwrap()
                .query_selector(selector)
                .unwrap()
                .unwrap_or_else(|| panic!("nothing matches {selector}"))
                .unchecked_into()
        }
    }

    impl Drop for Placed {
        fn drop(&mut self) {
            self.0.remove();
        }
    }

    #[wasm_bindgen_test]
    async fn shows_the_named_survey_and_hands_the_answer_to_the_core() {
        let (mounted, heard) = mount(CONFIG, "nps", "de", true);
        assert!(mounted.is_ok());
        settle().await;
        let placed = Placed::find();
        assert_eq!(
            placed.get("h2").text_content().unwrap(),
            "Wie wahrscheinlich ist es?",
            "the named survey's own words, in the data-lang language"
        );
        placed.get("[data-score='3']").click();
        settle().await;
        placed
            .get("textarea")
            .unchecked_ref::<HtmlTextAreaElement>()
            .set_value("  Zu langsam ");
        placed.get(".send").click();
        settle().await;
        let answers = heard.answers.borrow();
        assert_eq!(answers.len(), 1);
        assert_eq!(answers[0].0.as_f64(), Some(3.0));
        assert_eq!(answers[0].1.as_string().as_deref(), Some("Zu langsam"));
        assert_eq!(answers[0].2.as_string().as_deref(), Some("de"));
        assert_eq!(*heard.dismissals.borrow(), 0);
    }

    #[wasm_bindgen_test]
    async fn a_skipped_comment_is_undefined_and_a_dismissal_is_reported() {
        let (mounted, heard) = mount(CONFIG, "other", "", false);
        assert!(mounted.is_ok());
        settle().await;
        let placed = Placed::find();
        placed.get(".close").click();
        settle().await;
        assert!(heard.answers.borrow().is_empty());
        assert_eq!(*heard.dismissals.borrow(), 1);
        drop(placed);

        let (mounted, heard) = mount(CONFIG, "nps", "en", true);
        assert!(mounted.is_ok());
        settle().await;
        let placed = Placed::find();
        placed.get("[data-score='10']").click();
        settle().await;
        placed.get(".send").click();
        settle().await;
        let answers = heard.answers.borrow();
        assert_eq!(answers.len(), 1);
        assert_eq!(answers[0].0.as_f64(), Some(10.0));
        assert!(
            answers[0].1.is_undefined(),
            "no comment: {:?}",
            answers[0].1
        );
        assert_eq!(answers[0].2.as_string().as_deref(), Some("en"));
    }

    #[wasm_bindgen_test]
    async fn a_malformed_configuration_or_unknown_survey_places_nothing() {
        for (config, survey) in [
            ("", "nps"),
            ("not json", "nps"),
            (r#"{"surveys": "nps"}"#, "nps"),
            (CONFIG, "missing"),
            (CONFIG, ""),
            (CONFIG, "<img src=x onerror=alert(1)>"),
        ] {
            let (mounted, heard) = mount(config, survey, "", true);
            assert!(mounted.is_err(), "{config:?} {survey:?}");
            assert!(document().get_element_by_id(host::HOST_ID).is_none());
            assert!(heard.answers.borrow().is_empty());
        }
    }

    #[wasm_bindgen_test]
    async fn a_second_survey_on_the_page_is_refused() {
        let (first, _) = mount(CONFIG, "nps", "", true);
        assert!(first.is_ok());
        settle().await;
        let placed = Placed::find();
        let (second, _) = mount(CONFIG, "nps", "", true);
        assert!(second.is_err());
        drop(placed);
    }
}

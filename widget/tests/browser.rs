//! Browser tests of the widget's components, run in headless Chromium by `cargo xtask test`
//! (through wasm-bindgen-test-runner). Each test mounts into its own shadow root, drives the
//! components as a visitor would, and checks what they show and what they report up. The real
//! network path is covered by the end-to-end test against a running collector.
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;
use touchstone_shared::Score;
use touchstone_widget::components::{QUESTION, Scale, ScaleProps, Submit, Survey, SurveyProps};
use touchstone_widget::host;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::{Element, HtmlElement, KeyboardEvent, KeyboardEventInit, ShadowRoot};
use yew::Callback;

wasm_bindgen_test_configure!(run_in_browser);

/// A host element in the page with its own shadow root, removed again when dropped.
struct Mount {
    host: Element,
    shadow: ShadowRoot,
    root: Element,
}

impl Mount {
    fn new() -> Self {
        let document = document();
        let host = document.create_element("div").unwrap();
        let root = host::attach(&document, &host, host::STYLES).unwrap();
        document.body().unwrap().append_child(&host).unwrap();
        let shadow = host.shadow_root().unwrap();
        Mount { host, shadow, root }
    }

    fn survey(submit: Submit) -> Self {
        let mount = Mount::new();
        yew::Renderer::<Survey>::with_root_and_props(mount.root.clone(), SurveyProps { submit })
            .render();
        mount
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

    fn state(&self) -> String {
        self.get("[data-touchstone-state]")
            .get_attribute("data-touchstone-state")
            .unwrap()
    }

    fn active_score(&self) -> Option<String> {
        self.shadow
            .active_element()
            .and_then(|element| element.get_attribute("data-score"))
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

/// A submit function that records the scores it is given and answers with `stored`.
fn recording(stored: bool) -> (Submit, Rc<RefCell<Vec<u8>>>) {
    let calls = Rc::new(RefCell::new(Vec::new()));
    let seen = Rc::clone(&calls);
    let submit = Submit::new(move |score: Score| {
        seen.borrow_mut().push(score.value());
        async move { stored }
    });
    (submit, calls)
}

/// Lets Yew render and the spawned sends settle.
async fn settle() {
    for _ in 0..3 {
        yew::scheduler::flush().await;
        let promise = js_sys::Promise::resolve(&wasm_bindgen::JsValue::NULL);
        wasm_bindgen_futures::JsFuture::from(promise).await.unwrap();
    }
}

fn press(target: &HtmlElement, key: &str) {
    let init = KeyboardEventInit::new();
    init.set_key(key);
    init.set_bubbles(true);
    init.set_cancelable(true);
    init.set_composed(true);
    let event = KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &init).unwrap();
    target.dispatch_event(&event).unwrap();
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
    assert!(
        shadow.query_selector("style").unwrap().is_none(),
        "no <style> element"
    );
    assert!(matches!(
        host::mount(host::STYLES),
        Err(host::HostError::AlreadyMounted)
    ));

    let (submit, _) = recording(true);
    yew::Renderer::<Survey>::with_root_and_props(root, SurveyProps { submit }).render();
    settle().await;
    assert!(
        shadow
            .query_selector("[data-touchstone-state]")
            .unwrap()
            .is_some()
    );
    assert!(
        shadow.query_selector("[style]").unwrap().is_none(),
        "no inline style attributes"
    );
    // In the page's own tree the host stays an empty <div id>: everything is in the shadow tree.
    assert_eq!(host_element.child_nodes().length(), 0);
    assert_eq!(host_element.attributes().length(), 1);
    assert_eq!(body.child_element_count(), before + 1);
    host_element.remove();
}

#[wasm_bindgen_test]
async fn the_survey_asks_with_eleven_labelled_choices() {
    let (submit, calls) = recording(true);
    let mount = Mount::survey(submit);
    settle().await;

    assert_eq!(mount.state(), "asking");
    let question = mount.get("h2");
    assert_eq!(question.text_content().unwrap(), QUESTION);
    let group = mount.get("[role=radiogroup]");
    assert_eq!(
        group.get_attribute("aria-labelledby").unwrap(),
        question.id()
    );
    let choices = mount.shadow.query_selector_all("[role=radio]").unwrap();
    assert_eq!(choices.length(), 11);
    for value in 0..=10u32 {
        let choice: Element = choices.get(value).unwrap().unchecked_into();
        assert_eq!(
            choice.get_attribute("data-score").unwrap(),
            value.to_string()
        );
        assert_eq!(choice.text_content().unwrap(), value.to_string());
        assert_eq!(choice.get_attribute("aria-checked").unwrap(), "false");
    }
    assert_eq!(
        mount
            .get("[data-score='0']")
            .get_attribute("aria-label")
            .unwrap(),
        "0, not at all likely"
    );
    assert_eq!(
        mount
            .get("[data-score='10']")
            .get_attribute("aria-label")
            .unwrap(),
        "10, extremely likely"
    );
    assert!(
        mount
            .get(".ends")
            .text_content()
            .unwrap()
            .contains("Not at all likely")
    );
    assert!(mount.get(".close").get_attribute("aria-label").is_some());
    assert!(calls.borrow().is_empty(), "nothing is sent before a choice");
}

#[wasm_bindgen_test]
async fn a_click_on_a_score_submits_it_and_thanks_the_visitor() {
    let (submit, calls) = recording(true);
    let mount = Mount::survey(submit);
    settle().await;

    mount.get("[data-score='9']").click();
    settle().await;

    assert_eq!(*calls.borrow(), [9]);
    assert_eq!(mount.state(), "thanks");
    assert!(
        mount
            .get("[role=status]")
            .text_content()
            .unwrap()
            .contains("Thank you!")
    );
    assert!(
        mount.find("[role=radiogroup]").is_none(),
        "the question gives way to the thanks"
    );
}

#[wasm_bindgen_test]
async fn the_survey_shows_sending_until_the_collector_answers() {
    let release: Rc<RefCell<Option<futures_channel_shim::Sender>>> = Rc::default();
    let slot = Rc::clone(&release);
    let submit = Submit::new(move |_score| {
        let (sender, receiver) = futures_channel_shim::channel();
        *slot.borrow_mut() = Some(sender);
        receiver
    });
    let mount = Mount::survey(submit);
    settle().await;

    mount.get("[data-score='4']").click();
    settle().await;
    assert_eq!(mount.state(), "sending");
    assert_eq!(
        mount
            .get("[data-score='4']")
            .get_attribute("aria-checked")
            .unwrap(),
        "true"
    );
    mount.get("[data-score='8']").click();
    settle().await;
    assert_eq!(
        mount
            .get("[data-score='4']")
            .get_attribute("aria-checked")
            .unwrap(),
        "true",
        "one answer at a time"
    );

    release.borrow_mut().take().unwrap().send(true);
    settle().await;
    assert_eq!(mount.state(), "thanks");
}

#[wasm_bindgen_test]
async fn a_failed_send_offers_a_retry_with_the_same_score() {
    let (submit, calls) = recording(false);
    let mount = Mount::survey(submit);
    settle().await;

    mount.get("[data-score='2']").click();
    settle().await;
    assert_eq!(mount.state(), "error");
    assert!(
        mount
            .get("[role=status]")
            .text_content()
            .unwrap()
            .contains("could not be sent")
    );

    mount.get(".retry").click();
    settle().await;
    assert_eq!(*calls.borrow(), [2, 2]);
    assert_eq!(mount.state(), "error");
}

#[wasm_bindgen_test]
async fn the_close_button_dismisses_the_survey() {
    let (submit, calls) = recording(true);
    let mount = Mount::survey(submit);
    settle().await;

    mount.get(".close").click();
    settle().await;
    assert!(mount.find("[data-touchstone-state]").is_none());
    assert!(calls.borrow().is_empty());
}

#[wasm_bindgen_test]
async fn the_keyboard_moves_between_choices_and_chooses() {
    let chosen = Rc::new(RefCell::new(Vec::new()));
    let seen = Rc::clone(&chosen);
    let mount = Mount::new();
    let props = ScaleProps {
        labelled_by: "question".into(),
        selected: None,
        busy: false,
        on_choose: Callback::from(move |score: Score| seen.borrow_mut().push(score.value())),
    };
    yew::Renderer::<Scale>::with_root_and_props(mount.root.clone(), props).render();
    settle().await;

    let tab_stops = mount
        .shadow
        .query_selector_all("[role=radio][tabindex='0']")
        .unwrap();
    assert_eq!(tab_stops.length(), 1, "one Tab stop for the whole group");
    let first = mount.get("[data-score='0']");
    first.focus().unwrap();
    assert_eq!(mount.active_score().as_deref(), Some("0"));

    press(&first, "ArrowRight");
    assert_eq!(mount.active_score().as_deref(), Some("1"));
    press(&mount.get("[data-score='1']"), "End");
    assert_eq!(mount.active_score().as_deref(), Some("10"));
    press(&mount.get("[data-score='10']"), "ArrowRight");
    assert_eq!(mount.active_score().as_deref(), Some("0"), "wraps around");
    press(&first, "ArrowLeft");
    assert_eq!(mount.active_score().as_deref(), Some("10"));
    assert!(
        chosen.borrow().is_empty(),
        "moving the focus chooses nothing"
    );

    // Enter and Space on a <button> activate it; a click is what the browser then delivers.
    mount.get("[data-score='10']").click();
    settle().await;
    assert_eq!(*chosen.borrow(), [10]);
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

//! The running widget: one [`App`] per page, driven by the page's commands, the page's
//! lifecycle and the widget's own timers.
//!
//! Every entry point (a command, a timer, a listener, a finished request) borrows the app for a
//! moment, changes it, and lets go before anything that could call back in (rendering the
//! survey, scheduling a timer). So no borrow is ever held across a callback or an `await`.
//!
//! Privacy: the app *records* (keeps a visitor id, a session, a journey and a persistent queue
//! on the device) only when the browser sends neither Do Not Track nor Global Privacy Control,
//! storage works, and — with `data-consent="required"` — the page has given consent. Otherwise
//! nothing is written to the device, no journey or identify is sent, no survey appears by
//! itself, and `touchstone('show')` shows one whose events carry a visitor id made for this
//! page only.

use crate::delivery::Outbox;
use crate::journey::{self, JourneyError};
use crate::queue::Entry;
use crate::session::{History, Session, utm_of};
use crate::transport::{self, Api};
use crate::{report, text_error};
use std::cell::{Cell, RefCell};
use touchstone_shared::eligibility::{Decision, Moment, Reason, Trigger, decide};
use touchstone_shared::survey::Survey;
use touchstone_shared::wire::{Event, EventId, Timestamp, Traits, Utm, VisitorId};
use touchstone_shared::{
    Comment, CustomerId, Language, PageUrl, Score, SiteKey, SurveyId, TouchpointName, TraitName,
    TraitValue,
};
use wasm_bindgen::prelude::*;
use web_sys::Storage;

/// The `localStorage` key of the shared session.
pub const SESSION_KEY: &str = "touchstone.session";
/// The `localStorage` key of the recontact clocks.
pub const HISTORY_KEY: &str = "touchstone.history";
/// The `localStorage` key that remembers consent given in `data-consent="required"` mode.
pub const CONSENT_KEY: &str = "touchstone.consent";
/// Every key the widget writes starts with this.
pub const KEY_PREFIX: &str = "touchstone.";

/// How long events wait to be batched with the next ones (answers go at once).
const BATCH_DELAY_MILLIS: f64 = 500.0;
/// The longest a tab with queued events sleeps: it then rewrites its queue's heartbeat so
/// other tabs do not adopt it while it backs off.
const HEARTBEAT_MILLIS: f64 = 60_000.0;

thread_local! {
    static APP: RefCell<Option<App>> = const { RefCell::new(None) };
    static FLUSH_DUE: Cell<Option<f64>> = const { Cell::new(None) };
    static TICK: Cell<Option<i32>> = const { Cell::new(None) };
}

/// Runs `change` on the app, if it has started (and is not already borrowed: an entry point
/// that finds it busy is a bug, and dropping one call beats a panic on a customer's page).
pub fn with<R>(change: impl FnOnce(&mut App) -> R) -> Option<R> {
    APP.with(|app| app.try_borrow_mut().ok()?.as_mut().map(change))
}

/// The settings from the script tag.
pub struct Settings {
    /// `data-site`.
    pub site: SiteKey,
    /// The collector's origin.
    pub api: Api,
    /// `data-consent="required"`.
    pub consent_required: bool,
    /// `data-debug`: explain every decision in the console.
    pub debug: bool,
    /// The loader's `showSurvey(surveyId, config)`: fetches the survey module once and mounts
    /// the survey (see `www/loader.js`).
    pub show_survey: js_sys::Function,
}

/// A survey to put on the page, decided while the app was borrowed and shown after.
pub struct ToShow {
    survey: SurveyId,
    config: JsValue,
}

/// The site's surveys, and the configuration's text they were read from: the survey module
/// reads that text again rather than the core writing the chosen survey out (no serializer in
/// the core).
struct Surveys {
    surveys: Vec<Survey>,
    config: JsValue,
}

/// The widget's state on this page.
pub struct App {
    settings: Settings,
    /// Do Not Track or Global Privacy Control: never record, whatever the page says.
    privacy_signal: bool,
    /// The device's storage, while the app may write to it.
    storage: Option<Storage>,
    /// Whether the journey is recorded (see the module's note on privacy).
    recording: bool,
    visitor: VisitorId,
    tab: String,
    session: Session,
    history: History,
    /// The current page's address without its fragment (query kept, for `utm_*`).
    href: String,
    url: Option<PageUrl>,
    first_page: bool,
    seconds_on_page: u32,
    surveys: Option<Surveys>,
    show_pending: bool,
    shown: bool,
    /// The survey handed to the survey module, until the module says it is on screen: only then
    /// is it recorded as shown (a module that fails to load shows nothing).
    awaiting_mount: Option<SurveyId>,
    outbox: Outbox,
    warned_full: bool,
}

/// Starts the app on this page at `href` (the address when the loader ran).
pub fn start(settings: Settings, href: &str) -> Result<(), JourneyError> {
    let storage = web_sys::window().and_then(|window| window.local_storage().ok().flatten());
    let privacy_signal = privacy_signal();
    let consented = !settings.consent_required
        || storage
            .as_ref()
            .and_then(|storage| storage.get_item(CONSENT_KEY).ok().flatten())
            .is_some_and(|value| value == "1");
    // Eight hex digits name this tab's queue; `truncate` rather than slicing, whose panic
    // message would bring `char` debug formatting into the wasm.
    let mut tab = journey::uuid_text(journey::page_visitor()?.0);
    tab.truncate(8);
    let site = settings.site.as_str().to_owned();
    let mut app = App {
        privacy_signal,
        storage: None,
        recording: false,
        visitor: journey::page_visitor()?,
        tab,
        session: Session::new(js_sys::Date::now() as i64),
        history: History::default(),
        href: String::new(),
        url: None,
        first_page: true,
        seconds_on_page: 0,
        surveys: None,
        show_pending: false,
        shown: false,
        awaiting_mount: None,
        outbox: Outbox::new(&site, None),
        warned_full: false,
        settings,
    };
    if privacy_signal {
        app.debug(&["Do Not Track or Global Privacy Control is on: nothing is recorded"]);
    } else if !consented {
        app.debug(&["waiting for touchstone('consent', true): nothing is recorded yet"]);
    }
    if let (false, true, Some(storage)) = (privacy_signal, consented, storage) {
        app.begin_recording(storage)?;
    }
    let surveys_url = app.settings.api.surveys_url(&site);
    APP.with(|slot| *slot.borrow_mut() = Some(app));

    let shown = with(|app| app.page(href)).flatten();
    render(shown);
    listen_to_the_page_lifecycle();
    wasm_bindgen_futures::spawn_local(async move {
        let Some(text) = transport::get_text(&surveys_url).await else {
            report(&["the survey configuration could not be loaded"]);
            return;
        };
        let Some(surveys) = crate::config::read(&text) else {
            report(&["the survey configuration could not be read"]);
            return;
        };
        let shown = with(|app| {
            app.surveys = Some(Surveys {
                surveys: surveys.into_parts().0,
                config: JsValue::from_str(&text),
            });
            app.keep_ticking();
            app.evaluate(false)
        })
        .flatten();
        render(shown);
    });
    schedule_flush(0.0);
    Ok(())
}

/// Runs one `touchstone(...)` command. Four are internal, called by the loader for the survey
/// module: `_shown(survey)` once the module has put the survey on screen (only then is it
/// recorded as shown), `_failed(survey)` when it could not (the module failed to load, say),
/// `_answer(survey, score, comment, language)` queues an answer and returns whether it is
/// queued, and `_dismissed(survey)` records a dismissal.
pub fn command(name: &str, args: &js_sys::Array) -> bool {
    let text = |index: u32| args.get(index).as_string();
    let shown = match name {
        "_answer" => {
            return with(|app| app.answered(&text(1).unwrap_or_default(), args)).unwrap_or(false);
        }
        "_dismissed" => {
            with(|app| app.dismissed(&text(1).unwrap_or_default()));
            None
        }
        "_shown" => {
            with(|app| app.mounted(&text(1).unwrap_or_default()));
            None
        }
        "_failed" => {
            with(|app| app.mount_failed(&text(1).unwrap_or_default()));
            None
        }
        "page" => with(|app| app.page(&text(1).unwrap_or_default())).flatten(),
        "touch" => with(|app| app.touch(&text(1).unwrap_or_default())).flatten(),
        "show" => with(|app| app.evaluate(true)).flatten(),
        "identify" => {
            with(|app| app.identify(&text(1).unwrap_or_default(), &args.get(2)));
            None
        }
        "consent" => with(|app| app.consent(args.get(1).is_truthy())).flatten(),
        _ => {
            report(&["unknown command \"", name, "\""]);
            None
        }
    };
    render(shown);
    false
}

impl App {
    fn debug(&self, parts: &[&str]) {
        if self.settings.debug {
            report(parts);
        }
    }

    /// Starts keeping the visitor, session, history and queue on the device.
    fn begin_recording(&mut self, storage: Storage) -> Result<(), JourneyError> {
        self.visitor = journey::visitor_id(&storage)?;
        let now = js_sys::Date::now();
        self.session = stored(&storage, SESSION_KEY)
            .and_then(|text| Session::decode(&text))
            .unwrap_or_else(|| Session::new(now as i64));
        self.history = stored(&storage, HISTORY_KEY)
            .map_or_else(History::default, |text| History::decode(&text));
        self.outbox = Outbox::new(
            self.settings.site.as_str(),
            Some((storage.clone(), &self.tab)),
        );
        self.outbox.adopt(now);
        self.storage = Some(storage);
        self.recording = true;
        Ok(())
    }

    /// A page view (the first page, or a single-page app's navigation).
    fn page(&mut self, href: &str) -> Option<ToShow> {
        let without_fragment = href.split('#').next().unwrap_or_default();
        if self.url.is_some() && without_fragment == self.href {
            return None;
        }
        let url = match journey::page_url(href) {
            Ok(url) => url,
            Err(error) => {
                report(&[&error.message()]);
                return None;
            }
        };
        self.href = without_fragment.to_owned();
        self.url = Some(url);
        self.seconds_on_page = 0;
        if !self.recording {
            return None;
        }
        self.touchpoint(TouchpointName::page_view());
        self.first_page = false;
        self.keep_ticking();
        self.evaluate(false)
    }

    /// A named touchpoint from `touchstone('touch', name)` or a `data-touchstone` click.
    fn touch(&mut self, name: &str) -> Option<ToShow> {
        let name = match TouchpointName::parse(name) {
            Ok(name) => name,
            Err(error) => {
                report(&[&text_error(&error)]);
                return None;
            }
        };
        if !self.recording {
            return None;
        }
        self.touchpoint(name);
        self.evaluate(false)
    }

    /// Records `name` on the current page, with the referrer and UTM tags when it opens a
    /// session.
    fn touchpoint(&mut self, name: TouchpointName) {
        let Some(url) = self.url.clone() else {
            return;
        };
        let now = js_sys::Date::now() as i64;
        let kept = self.load_session();
        let (mut session, new) = Session::resume(kept, now);
        let (referrer, utm) = if new {
            (self.referrer(), utm_of(&self.href))
        } else {
            (None, None)
        };
        session.reached(&name);
        self.session = session;
        self.save_session();
        if let Some((id, at)) = ids() {
            let utm = utm.filter(|utm: &Utm| !utm.is_empty());
            self.record(
                false,
                Event::Touchpoint {
                    id,
                    at,
                    name,
                    url,
                    referrer,
                    utm,
                },
            );
        }
    }

    fn referrer(&self) -> Option<PageUrl> {
        if !self.first_page {
            return None;
        }
        let window = web_sys::window()?;
        let origin = window.location().origin().ok()?;
        journey::referrer_of(&window.document()?.referrer(), &origin)
    }

    /// `touchstone('identify', customer, traits)`.
    fn identify(&mut self, customer: &str, traits: &JsValue) {
        if !self.recording {
            return;
        }
        let customer = match CustomerId::parse(customer) {
            Ok(customer) => customer,
            Err(error) => return report(&["identify: ", &text_error(&error)]),
        };
        // A list, not the map `Traits` holds: see `json::identify`.
        let mut list = Vec::new();
        if let Some(object) = traits.dyn_ref::<js_sys::Object>() {
            for pair in js_sys::Object::entries(object).iter() {
                let pair: js_sys::Array = pair.unchecked_into();
                let name = pair.get(0).as_string().unwrap_or_default();
                let value = pair.get(1);
                // Numbers and booleans are sent as their JSON text ("3", "true").
                let value = value.as_string().or_else(|| {
                    (value.as_f64().is_some() || value.as_bool().is_some())
                        .then(|| js_sys::JSON::stringify(&value).ok()?.as_string())
                        .flatten()
                });
                match (
                    TraitName::parse(&name),
                    value.map(|v| TraitValue::parse(&v)),
                ) {
                    (Ok(name), Some(Ok(value))) => list.push((name, value)),
                    _ => report(&["identify: the trait \"", &name, "\" is left out"]),
                }
            }
        }
        if list.len() > Traits::MAX_ENTRIES {
            return report(&["identify: at most 32 traits"]);
        }
        if let Some((id, at)) = ids() {
            let json = crate::json::identify(id, at, &customer, &list);
            self.record_json(false, id, json);
        }
    }

    /// `touchstone('consent', given)`.
    fn consent(&mut self, given: bool) -> Option<ToShow> {
        if !given {
            self.forget_everything();
            return None;
        }
        if self.recording {
            return None;
        }
        if self.privacy_signal {
            report(&["Do Not Track or Global Privacy Control is on: nothing is recorded"]);
            return None;
        }
        let storage = web_sys::window().and_then(|window| window.local_storage().ok().flatten())?;
        let _ = storage.set_item(CONSENT_KEY, "1");
        if let Err(error) = self.begin_recording(storage) {
            report(&[&error.message()]);
            return None;
        }
        // The page the visitor is on counts from the moment of consent.
        self.href.clear();
        let href = web_sys::window()?.location().href().ok()?;
        self.page(&href)
    }

    /// Consent withdrawn: every key the widget wrote goes, and recording stops.
    fn forget_everything(&mut self) {
        self.outbox.clear();
        self.outbox.forget_storage();
        if let Some(storage) =
            web_sys::window().and_then(|window| window.local_storage().ok().flatten())
        {
            let length = storage.length().unwrap_or(0);
            let keys: Vec<String> = (0..length)
                .filter_map(|index| storage.key(index).ok().flatten())
                .filter(|key| key.starts_with(KEY_PREFIX))
                .collect();
            for key in keys {
                let _ = storage.remove_item(&key);
            }
        }
        self.storage = None;
        self.recording = false;
        self.session = Session::new(js_sys::Date::now() as i64);
        self.history = History::default();
        if let Ok(visitor) = journey::page_visitor() {
            self.visitor = visitor;
        }
        stop_ticking();
    }

    /// Whether a survey should appear now; if so, records that it is shown and returns it.
    fn evaluate(&mut self, show_requested: bool) -> Option<ToShow> {
        if self.shown {
            if show_requested {
                self.debug(&["a survey is already on the page"]);
            }
            return None;
        }
        self.show_pending |= show_requested;
        let url = self.url.clone()?;
        // Until the configuration arrives, a requested show stays pending.
        self.surveys.as_ref()?;
        let show_requested = std::mem::take(&mut self.show_pending);
        if !self.recording && !show_requested {
            return None;
        }
        if let Some(kept) = self.load_session() {
            // Another tab may have shown a survey in this session since.
            self.session.shown |= kept.shown;
        }
        let now = journey::now().ok()?;
        let surveys = self.surveys.as_ref()?;
        let chosen = surveys.surveys.iter().find(|survey| {
            let (last_answered, last_dismissed) = self.history.of(&survey.id);
            let moment = Moment {
                now,
                url: &url,
                visitor: self.visitor,
                last_answered,
                last_dismissed,
                shown_this_session: self.session.shown,
                page_views: self.session.page_views,
                touchpoints: &self.session.touchpoints,
                seconds_on_page: self.seconds_on_page,
                show_requested,
            };
            match decide(&survey.targeting, &moment) {
                Decision::Ask => true,
                Decision::NotNow(reason) => {
                    if self.settings.debug && (show_requested || reason != Reason::TriggerNotMet) {
                        report(&[
                            "not showing \"",
                            survey.id.as_str(),
                            "\": ",
                            reason_text(reason),
                        ]);
                    }
                    false
                }
            }
        })?;
        let survey = chosen.id.clone();
        let config = surveys.config.clone();
        self.shown = true;
        self.session.shown = true;
        self.save_session();
        stop_ticking();
        self.awaiting_mount = Some(survey.clone());
        Some(ToShow { survey, config })
    }

    /// The survey module put `survey` on screen: now it is recorded as shown, once.
    fn mounted(&mut self, survey: &str) {
        if let Some(survey) = self.take_awaiting_mount(survey)
            && let Some((id, at)) = ids()
        {
            self.record(false, Event::Shown { id, at, survey });
        }
    }

    /// The survey module could not put `survey` on screen. Nothing was shown, so the session's
    /// one survey is not used up: a later page of the session may ask again. This page does not
    /// retry, so a module that keeps failing costs one attempt per page, never a loop.
    fn mount_failed(&mut self, survey: &str) {
        if self.take_awaiting_mount(survey).is_some() {
            self.session.shown = false;
            self.save_session();
        }
    }

    /// The survey the core handed to the survey module, if it is `survey`: the module's word on
    /// it counts once, and only for the survey it was given.
    fn take_awaiting_mount(&mut self, survey: &str) -> Option<SurveyId> {
        self.awaiting_mount
            .take_if(|awaiting| awaiting.as_str() == survey)
    }

    /// Counts a second on a visible page while a survey waits for a time trigger.
    fn tick(&mut self) -> Option<ToShow> {
        if document_hidden() {
            stop_ticking();
            return None;
        }
        self.seconds_on_page = self.seconds_on_page.saturating_add(1);
        self.evaluate(false)
    }

    /// Runs the once-a-second tick only while it can matter: recording, no survey shown yet,
    /// some survey triggered by time, and the page visible.
    fn keep_ticking(&self) {
        let needed = self.recording
            && !self.shown
            && !document_hidden()
            && self.surveys.as_ref().is_some_and(|surveys| {
                surveys
                    .surveys
                    .iter()
                    .any(|survey| matches!(survey.targeting.trigger, Trigger::TimeOnPage { .. }))
            });
        if needed {
            start_ticking();
        } else {
            stop_ticking();
        }
    }

    /// The visitor answered `survey`: `args` of `_answer` are the score, the comment
    /// (`undefined` for none) and the code of the language it was shown in. Returns whether the
    /// answer is queued; a malformed answer is reported and not queued.
    fn answered(&mut self, survey: &str, args: &js_sys::Array) -> bool {
        let score = args
            .get(2)
            .as_f64()
            .filter(|score| score.fract() == 0.0 && (0.0..=255.0).contains(score))
            .and_then(|score| Score::try_from(score as u8).ok());
        let comment = args.get(3);
        let comment = match comment.as_string() {
            Some(text) => Comment::parse_optional(&text).map_err(|_| ()),
            None if comment.is_undefined() => Ok(None),
            None => Err(()),
        };
        let language = Language::parse(&args.get(4).as_string().unwrap_or_default()).ok();
        let (Ok(survey), Some(score), Ok(comment), Some(language)) =
            (SurveyId::parse(survey), score, comment, language)
        else {
            report(&["the survey's answer is malformed; it was not sent"]);
            return false;
        };
        let Some((id, at)) = ids() else {
            return false;
        };
        self.record(
            true,
            Event::Response {
                id,
                at,
                score,
                comment,
                survey: survey.clone(),
                language: Some(language),
                device: Some(journey::this_device()),
            },
        );
        self.history.answered(&survey, at);
        self.save_history();
        true
    }

    fn dismissed(&mut self, survey: &str) {
        let Ok(survey) = SurveyId::parse(survey) else {
            return report(&["the survey's dismissal is malformed; it was not sent"]);
        };
        if let Some((id, at)) = ids() {
            self.record(
                false,
                Event::Dismissal {
                    id,
                    at,
                    survey: survey.clone(),
                },
            );
            self.history.dismissed(&survey, at);
            self.save_history();
        }
    }

    /// Queues `event` (an answer when `answer`) and plans its delivery. Not generic over how
    /// the event is made: one copy of this code in the wasm, not one per kind of event.
    fn record(&mut self, answer: bool, event: Event) {
        self.record_json(answer, event.id(), crate::json::event(&event));
    }

    /// Queues the event `id` written as `json` and plans its delivery.
    fn record_json(&mut self, answer: bool, id: EventId, json: String) {
        self.outbox.push(
            Entry {
                answer,
                visitor: journey::uuid_text(self.visitor.0),
                id: journey::uuid_text(id.0),
                json,
            },
            js_sys::Date::now(),
        );
        if self.outbox.dropped > 0 && !self.warned_full {
            self.warned_full = true;
            report(&[
                "the collector has been unreachable for long: the oldest events were dropped",
            ]);
        }
        schedule_flush(if answer { 0.0 } else { BATCH_DELAY_MILLIS });
    }

    fn load_session(&self) -> Option<Session> {
        let storage = self.storage.as_ref()?;
        stored(storage, SESSION_KEY).and_then(|text| Session::decode(&text))
    }

    fn save_session(&self) {
        if let Some(storage) = &self.storage {
            let _ = storage.set_item(SESSION_KEY, &self.session.encode());
        }
    }

    fn save_history(&self) {
        if let Some(storage) = &self.storage {
            let _ = storage.set_item(HISTORY_KEY, &self.history.encode());
        }
    }
}

/// A fresh event id and the time, or `None` (reported) when the browser has no randomness or
/// no sane clock.
fn ids() -> Option<(EventId, Timestamp)> {
    match (journey::event_id(), journey::now()) {
        (Ok(id), Ok(at)) => Some((id, at)),
        _ => {
            report(&["the browser offers no random ids or no sane clock"]);
            None
        }
    }
}

fn stored(storage: &Storage, key: &str) -> Option<String> {
    storage.get_item(key).ok().flatten()
}

fn reason_text(reason: Reason) -> &'static str {
    match reason {
        Reason::ShownThisSession => "a survey was shown in this session",
        Reason::AnsweredRecently { .. } => "answered recently",
        Reason::DismissedRecently { .. } => "dismissed recently",
        Reason::NotSampled => "this visitor is outside the sample",
        Reason::PageNotTargeted => "this page is not targeted",
        Reason::TriggerNotMet => "its trigger has not happened",
    }
}

/// `navigator.doNotTrack == "1"` or `navigator.globalPrivacyControl`.
fn privacy_signal() -> bool {
    let Some(navigator) = web_sys::window().map(|window| window.navigator()) else {
        return true;
    };
    let flag =
        |name: &str| js_sys::Reflect::get(&navigator, &name.into()).unwrap_or(JsValue::UNDEFINED);
    flag("doNotTrack")
        .as_string()
        .is_some_and(|value| value == "1")
        || flag("globalPrivacyControl").is_truthy()
}

fn document_hidden() -> bool {
    web_sys::window()
        .and_then(|window| window.document())
        .is_some_and(|document| document.hidden())
}

/// Asks the loader to put a decided survey on the page (outside any borrow of the app): it
/// fetches the survey module on first use. The loader's function never throws; if the module
/// cannot load, the core goes on recording.
fn render(shown: Option<ToShow>) {
    let Some(ToShow { survey, config }) = shown else {
        return;
    };
    let show_survey = with(|app| app.settings.show_survey.clone());
    if let Some(show_survey) = show_survey {
        let _ = show_survey.call2(&JsValue::NULL, &survey.as_str().into(), &config);
    }
}

/// Calls `run` after `millis`.
fn set_timeout(millis: f64, run: impl FnOnce() + 'static) {
    if let Some(window) = web_sys::window() {
        let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(
            Closure::once_into_js(run).unchecked_ref(),
            millis as i32,
        );
    }
}

/// Makes sure a delivery attempt happens within `millis` (one timer at a time).
fn schedule_flush(millis: f64) {
    let due = js_sys::Date::now() + millis;
    if FLUSH_DUE.get().is_some_and(|pending| pending <= due) {
        return;
    }
    FLUSH_DUE.set(Some(due));
    set_timeout(millis, || {
        FLUSH_DUE.set(None);
        flush();
    });
}

/// One delivery attempt: adopt gone tabs' queues, post the next batch, and plan the next try.
fn flush() {
    let now = js_sys::Date::now();
    let job = with(|app| {
        app.outbox.adopt(now);
        if app.outbox.is_empty() {
            return Err(None);
        }
        match app.outbox.begin(now) {
            Some(job) => Ok((job, app.settings.api.collect_url().to_owned())),
            // In flight: its end schedules the next attempt. Backing off: keep the heartbeat.
            None if app.outbox.in_flight() => Err(None),
            None => {
                app.outbox.keep(now as i64);
                Err(Some(app.outbox.wait(now)))
            }
        }
    });
    let (job, url) = match job {
        Some(Ok(job)) => job,
        Some(Err(Some(wait))) => return schedule_flush(wait.min(HEARTBEAT_MILLIS)),
        _ => return,
    };
    wasm_bindgen_futures::spawn_local(async move {
        let outcome = transport::post(&url, &job.body).await;
        if outcome == transport::Outcome::Refused {
            report(&["the collector refused a batch of events; it was dropped"]);
        }
        let next = with(|app| {
            app.outbox
                .finish(job, outcome, js_sys::Date::now(), js_sys::Math::random())
        })
        .flatten();
        if let Some(wait) = next {
            schedule_flush(wait.min(HEARTBEAT_MILLIS));
        }
    });
}

/// Hands every waiting batch to `sendBeacon`; `leaving` marks this tab's queue as free for the
/// next page to adopt (the events stay queued until a collector acknowledges them).
fn send_beacons(leaving: bool) {
    with(|app| {
        let url = app.settings.api.collect_url().to_owned();
        for body in app.outbox.bodies() {
            transport::beacon(&url, &body);
        }
        app.outbox.keep(if leaving {
            0
        } else {
            js_sys::Date::now() as i64
        });
    });
}

fn listen_to_the_page_lifecycle() {
    let Some(window) = web_sys::window() else {
        return;
    };
    let on = |target: &web_sys::EventTarget, name: &str, run: fn(web_sys::Event)| {
        let closure = Closure::<dyn Fn(web_sys::Event)>::new(run);
        let _ = target.add_event_listener_with_callback(name, closure.as_ref().unchecked_ref());
        // Listeners for the page's whole life.
        closure.forget();
    };
    on(&window, "pagehide", |_| send_beacons(true));
    on(&window, "pageshow", |_| {
        // Back from the back-forward cache: this tab's queue is its own again.
        with(|app| app.outbox.keep(js_sys::Date::now() as i64));
        schedule_flush(0.0);
    });
    if let Some(document) = window.document() {
        on(&document, "visibilitychange", |_| {
            if document_hidden() {
                stop_ticking();
                send_beacons(false);
            } else {
                with(|app| app.keep_ticking());
                schedule_flush(0.0);
            }
        });
    }
}

fn start_ticking() {
    if TICK.get().is_some() {
        return;
    }
    let Some(window) = web_sys::window() else {
        return;
    };
    let closure = Closure::<dyn Fn()>::new(|| render(with(App::tick).flatten()));
    let id = window
        .set_interval_with_callback_and_timeout_and_arguments_0(
            closure.as_ref().unchecked_ref(),
            1_000,
        )
        .ok();
    // One tick closure per start; it is small, and starts are rare (visibility changes).
    closure.forget();
    TICK.set(id);
}

fn stop_ticking() {
    if let (Some(id), Some(window)) = (TICK.take(), web_sys::window()) {
        window.clear_interval_with_handle(id);
    }
}

//! Realistic demo data: visitors of the demo shop, their journeys and their answers, made up
//! deterministically from a seed and written through [`Store::store_batches`].
//!
//! Visitors arrive over a number of days (more on weekdays and in the daytime, UTC, and a few
//! more each week), walk through the shop — page views, `pricing_viewed`, `add_to_cart`,
//! `checkout_completed`, `support_contact` — and some answer the NPS question. How they answer
//! depends on their journey: needing support lowers scores, a completed checkout raises them, and
//! scores improve a little over the period, so the reports and the trend have a story to tell.
//!
//! A completed checkout makes the visitor a customer: the shop identifies them (`identify`, with
//! their plan: starter, pro or business; business customers also with their company's `account`
//! and `seats`, for the account report) and bills them monthly in EUR from then on, 19, 49 or
//! 199 euros by plan. Business customers, who pay the most, are the least happy (a rough
//! onboarding), so the revenue-weighted NPS is well below the customers' plain NPS. Happier
//! customers stay and upgrade, unhappy ones leave: a detractor is far likelier to cancel after
//! each invoice, a promoter to add seats, so the revenue report shows real money at risk. `answers_only` (the benchmarks' ten million answers) makes no customers
//! and no revenue.
//!
//! Everything is drawn from one xoshiro256++ generator, whose output `rand` documents as
//! portable: the same settings give the same events, ids included, so seeding twice with the same
//! seed stores nothing new. Events go to the database in groups of thousands through the same
//! `store_batches` the collector uses, so the rollups stay equal to the raw rows.

use crate::site::Site;
use crate::store::{IncomingBatch, RevenueEntry, Store, StoreError};
use jiff::Timestamp;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use std::collections::BTreeMap;
use touchstone_shared::wire::{
    DeviceClass, Event, EventId, Timestamp as EventTime, Traits, Utm, VisitorId,
};
use touchstone_shared::{
    CampaignTag, Category, Comment, Currency, CustomerId, Language, PageUrl, Score, SurveyId,
    TouchpointName, TraitName, TraitValue,
};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// Events per call to `store_batches`: large groups keep seeding fast (one commit, one fsync
/// each) while a group's rows stay well within memory.
const GROUP_EVENTS: usize = 20_000;

/// Where visits come from, by weight.
const SOURCES: [(&str, u32); 4] = [
    ("direct", 45),
    ("search", 25),
    ("newsletter", 15),
    ("social", 15),
];

/// The languages respondents answer in, by weight.
const LANGUAGES: [(&str, u32); 5] = [("en", 70), ("fr", 10), ("de", 10), ("es", 7), ("ar", 3)];

/// The devices respondents answer on, by weight.
const DEVICES: [(DeviceClass, u32); 3] = [
    (DeviceClass::Mobile, 55),
    (DeviceClass::Tablet, 10),
    (DeviceClass::Desktop, 35),
];

/// The companies business customers work for, with their seats: the demo's B2B accounts (the
/// account report, `/nps/accounts?weight=seats`). Taken in turn, not drawn, so adding them
/// changed no other number of the demo.
const ACCOUNTS: [(&str, &str); 8] = [
    ("Acme Corp", "250"),
    ("Globex", "120"),
    ("Initech", "45"),
    ("Umbrella", "600"),
    ("Hooli", "80"),
    ("Wonka Industries", "300"),
    ("Soylent", "150"),
    ("Tyrell", "400"),
];

/// The plans customers choose, by weight, with their monthly price in euro cents.
const PLANS: [((&str, i64), u32); 3] = [
    (("starter", 1_900), 55),
    (("pro", 4_900), 35),
    (("business", 19_900), 10),
];

/// The chance that a customer cancels after an invoice, by the category of their answer
/// (`None`: they did not answer).
fn churn_chance(category: Option<Category>) -> f64 {
    match category {
        Some(Category::Promoter) => 0.03,
        Some(Category::Passive) => 0.12,
        Some(Category::Detractor) => 0.35,
        None => 0.10,
    }
}

/// How much traffic each UTC hour of the day gets, relative to the others.
const HOURLY_TRAFFIC: [(i64, u32); 24] = [
    (0, 2),
    (1, 1),
    (2, 1),
    (3, 1),
    (4, 1),
    (5, 2),
    (6, 3),
    (7, 5),
    (8, 7),
    (9, 9),
    (10, 10),
    (11, 10),
    (12, 9),
    (13, 9),
    (14, 9),
    (15, 8),
    (16, 8),
    (17, 8),
    (18, 9),
    (19, 10),
    (20, 10),
    (21, 8),
    (22, 5),
    (23, 3),
];

/// What to make up.
#[derive(Debug, Clone)]
pub struct DemoSettings {
    /// How many visitors arrive.
    pub visitors: u64,
    /// Over how many days, ending an hour before `until` (so no journey runs past it).
    pub days: u32,
    /// The generator's seed: the same settings and seed make the same events.
    pub seed: u64,
    /// When the period ends.
    pub until: Timestamp,
    /// Store only the answers, and let every visitor answer: many answers fast, for load tests.
    pub answers_only: bool,
}

/// What seeding stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seeded {
    /// Visitors made up.
    pub visitors: u64,
    /// Answers among their events.
    pub answers: u64,
    /// Events stored for the first time.
    pub stored: u64,
    /// Events an earlier run with the same seed had stored already, left as they were.
    pub already_stored: u64,
    /// Visitors who became customers (identified, and billed).
    pub customers: u64,
    /// Revenue rows stored for the first time.
    pub revenue_rows: u64,
}

/// Makes up the visits `settings` describe for `site` and stores them.
#[tracing::instrument(skip_all, fields(site = %site.key))]
pub async fn seed(
    store: &dyn Store,
    site: &Site,
    settings: &DemoSettings,
) -> Result<Seeded, StoreError> {
    let mut seeded = Seeded::default();
    let mut group = Vec::new();
    let mut group_events = 0;
    let mut visits = Visits::new(site, settings);
    loop {
        let batch = visits.next();
        let last = batch.is_none();
        if let Some(batch) = batch {
            seeded.visitors += 1;
            seeded.answers += batch
                .events
                .iter()
                .filter(|event| matches!(event, Event::Response { .. }))
                .count() as u64;
            group_events += batch.events.len();
            group.push(batch);
        }
        if group_events >= GROUP_EVENTS || (last && !group.is_empty()) {
            for outcome in store.store_batches(&group).await? {
                seeded.stored += outcome.new;
                seeded.already_stored += outcome.duplicates;
            }
            group.clear();
            group_events = 0;
            // The customers' revenue follows their identities into the database.
            let revenue = visits.take_revenue();
            if !revenue.is_empty() {
                seeded.revenue_rows += store.store_revenue(site, &revenue).await?.new;
            }
        }
        if last {
            break;
        }
    }
    seeded.customers = visits.customers;
    Ok(seeded)
}

/// The visits of [`DemoSettings`], one batch per visitor, in the order they arrive.
pub struct Visits {
    rng: Xoshiro256PlusPlus,
    settings: DemoSettings,
    site_id: i64,
    /// The site's first origin, for page URLs.
    origin: String,
    /// The first millisecond of the period.
    start: i64,
    /// Each day's share of the visitors, cumulated: day `d` gets visitors
    /// `arrivals_before[d]..arrivals_before[d + 1]`.
    arrivals_before: Vec<u64>,
    /// The next day to make up.
    day: usize,
    /// The current day's visits, latest first (so `pop` gives the earliest).
    today: Vec<IncomingBatch>,
    /// High bits of the ids; a counter fills the low bits, so ids are unique per seed and the
    /// primary-key index grows at one end.
    id_prefix: u64,
    next_id: u64,
    /// Customers made up so far.
    customers: u64,
    /// The revenue of the customers made up since it was last taken.
    revenue: Vec<RevenueEntry>,
}

impl Visits {
    /// The visits to `site` that `settings` describe.
    pub fn new(site: &Site, settings: &DemoSettings) -> Self {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(settings.seed);
        let id_prefix = rng.random();
        let days = settings.days.max(1) as usize;
        let start = settings.until.as_millisecond() - HOUR - days as i64 * DAY;
        // Weekends are quieter; traffic grows by a third over the period.
        let weights: Vec<f64> = (0..days)
            .map(|day| {
                let weekday = (start + day as i64 * DAY).div_euclid(DAY).rem_euclid(7);
                // 1970-01-01 was a Thursday: 2 and 3 days later are Saturday and Sunday.
                let weekend = if matches!(weekday, 2 | 3) { 0.75 } else { 1.0 };
                weekend * (1.0 + day as f64 / days as f64 / 3.0)
            })
            .collect();
        let total: f64 = weights.iter().sum();
        let mut arrivals_before = vec![0];
        let mut cumulated = 0.0;
        for weight in &weights {
            cumulated += weight;
            let share = (settings.visitors as f64 * cumulated / total).round() as u64;
            arrivals_before.push(share.min(settings.visitors));
        }
        arrivals_before[days] = settings.visitors;
        Visits {
            rng,
            settings: settings.clone(),
            site_id: site.id,
            origin: site
                .origins
                .first()
                .map_or("https://shop.example", |origin| origin.as_str())
                .to_owned(),
            start,
            arrivals_before,
            day: 0,
            today: Vec::new(),
            id_prefix,
            next_id: 0,
            customers: 0,
            revenue: Vec::new(),
        }
    }

    /// The revenue of the customers made up so far, taken out of the generator.
    pub fn take_revenue(&mut self) -> Vec<RevenueEntry> {
        std::mem::take(&mut self.revenue)
    }

    /// Makes up the visits of the next day, latest first.
    fn make_day(&mut self) {
        let days = self.arrivals_before.len() - 1;
        let count = self.arrivals_before[self.day + 1] - self.arrivals_before[self.day];
        let day_start = self.start + self.day as i64 * DAY;
        let mut arrivals: Vec<i64> = (0..count)
            .map(|_| day_start + self.hour_of_day() * HOUR + self.rng.random_range(0..HOUR))
            .collect();
        arrivals.sort_unstable();
        let progress = self.day as f64 / days as f64;
        // Made up in arrival order, so ids grow with time as the store's indexes like.
        self.today = arrivals
            .into_iter()
            .map(|arrival| self.visit(arrival, progress))
            .collect();
        self.today.reverse();
        self.day += 1;
    }

    fn hour_of_day(&mut self) -> i64 {
        self.pick(&HOURLY_TRAFFIC)
    }

    /// One visitor's journey from `arrival`, and perhaps their answer. `progress` (0 to 1) is
    /// how far into the period the visit falls.
    fn visit(&mut self, arrival: i64, progress: f64) -> IncomingBatch {
        let visitor = VisitorId(self.next_uuid());
        let mut walk = Walk {
            events: Vec::new(),
            at: arrival,
        };
        let mut journey = Journey::default();
        self.page(&mut walk, "/shop/", None);
        self.arrive_from_somewhere(&mut walk.events[0]);
        for _ in 0..self.rng.random_range(0..=3) {
            self.page(&mut walk, "/shop/product.html", None);
        }
        if self.rng.random_bool(0.35) {
            journey.pricing = true;
            self.page(&mut walk, "/shop/pricing.html", Some("pricing_viewed"));
            if self.rng.random_bool(0.45) {
                journey.cart = true;
                self.touchpoint(&mut walk, "/shop/pricing.html", "add_to_cart");
                if self.rng.random_bool(0.6) {
                    journey.checkout = true;
                    self.touchpoint(&mut walk, "/shop/pricing.html", "checkout_completed");
                    if !self.settings.answers_only {
                        journey.customer = Some(self.become_customer(&mut walk));
                    }
                }
            }
        }
        // An abandoned cart often means something went wrong.
        let support_chance = if journey.cart && !journey.checkout {
            0.3
        } else {
            0.1
        };
        if self.rng.random_bool(support_chance) {
            journey.support = true;
            self.page(&mut walk, "/shop/support.html", Some("support_contact"));
        }
        if self.settings.answers_only {
            walk.events.clear();
        }
        let mut category = None;
        if self.settings.answers_only || self.rng.random_bool(0.3) {
            walk.at += self.rng.random_range(5_000..60_000);
            let score = self.score(&journey, progress);
            category = Some(score.category());
            let comment = self.comment(score.category());
            let language = self.pick(&LANGUAGES);
            let device = self.pick(&DEVICES);
            walk.events.push(Event::Response {
                id: EventId(self.next_uuid()),
                at: event_time(walk.at),
                score,
                comment,
                survey: SurveyId::default(),
                language: Some(Language::parse(language).expect("the demo's languages are valid")),
                device: Some(device),
            });
        }
        if let Some(customer) = journey.customer.take() {
            self.bill(customer, category);
        }
        IncomingBatch {
            // Made-up visitors are not worth a webhook.
            watched: false,
            site_id: self.site_id,
            visitor,
            events: walk.events,
            received_at: walk.at,
        }
    }

    /// The shop identifies the visitor who just checked out as a new customer, with their plan
    /// and, on the business plan, their company's account and seats.
    fn become_customer(&mut self, walk: &mut Walk) -> NewCustomer {
        self.customers += 1;
        let (plan, price) = self.pick(&PLANS);
        let id = format!("cus_{:04x}{:06}", self.id_prefix >> 48, self.customers);
        let customer = CustomerId::parse(&id).expect("the demo's customer ids are valid");
        let trait_pair = |name: &str, value: &str| {
            (
                TraitName::parse(name).expect("a valid trait name"),
                TraitValue::parse(value).expect("a valid trait value"),
            )
        };
        let mut traits = BTreeMap::from([trait_pair("plan", plan)]);
        if plan == "business" {
            let (account, seats) = ACCOUNTS[self.customers as usize % ACCOUNTS.len()];
            traits.extend([trait_pair("account", account), trait_pair("seats", seats)]);
        }
        walk.events.push(Event::Identify {
            id: EventId(self.next_uuid()),
            at: event_time(walk.at),
            customer: customer.clone(),
            traits: Traits::try_from(traits).expect("three traits at most"),
        });
        NewCustomer {
            id: customer,
            plan,
            price,
            since: walk.at,
        }
    }

    /// A customer's monthly invoices from their checkout until the end of the period, or until
    /// they cancel; promoters sometimes add seats, paying half as much again.
    fn bill(&mut self, customer: NewCustomer, category: Option<Category>) {
        const MONTH: i64 = 30 * DAY;
        let euro = Currency::parse("EUR").expect("EUR is a currency");
        let until = self.settings.until.as_millisecond();
        let mut price = customer.price;
        let mut at = customer.since;
        while at < until {
            let id = self.next_uuid();
            self.revenue.push(RevenueEntry {
                id,
                reference: None,
                customer: customer.id.clone(),
                currency: euro,
                amount: price,
                at,
            });
            if self.rng.random_bool(churn_chance(category)) {
                break;
            }
            if category == Some(Category::Promoter) && self.rng.random_bool(0.25) {
                price += price / 2;
            }
            at += MONTH;
        }
    }

    /// Where the visit came from, set on its first touchpoint as the widget does: typed in,
    /// a search engine, the newsletter, or a social network's paid campaign.
    fn arrive_from_somewhere(&mut self, first: &mut Event) {
        let Event::Touchpoint { referrer, utm, .. } = first else {
            return;
        };
        let tag = |text: &str| Some(CampaignTag::parse(text).expect("the demo's tags are valid"));
        let page = |url: &str| Some(PageUrl::parse(url).expect("the demo's referrers are valid"));
        match self.pick(&SOURCES) {
            "search" => *referrer = page("https://www.google.com/"),
            "newsletter" => {
                *utm = Some(Utm {
                    source: tag("newsletter"),
                    medium: tag("email"),
                    campaign: tag("autumn-sale"),
                    ..Utm::default()
                });
            }
            "social" => {
                *referrer = page("https://social.example/");
                *utm = Some(Utm {
                    source: tag("social"),
                    medium: tag("paid"),
                    campaign: tag("brand-awareness"),
                    ..Utm::default()
                });
            }
            _ => {}
        }
    }

    /// One of `choices`, drawn by weight.
    fn pick<T: Copy>(&mut self, choices: &[(T, u32)]) -> T {
        let total: u32 = choices.iter().map(|(_, weight)| weight).sum();
        let mut draw = self.rng.random_range(0..total);
        for (choice, weight) in choices {
            if draw < *weight {
                return *choice;
            }
            draw -= weight;
        }
        unreachable!("the draw is below the total of the weights")
    }

    /// A page view of `path`, and the named moment on it.
    fn page(&mut self, walk: &mut Walk, path: &str, moment: Option<&str>) {
        self.touchpoint(walk, path, "page_view");
        if let Some(moment) = moment {
            self.touchpoint(walk, path, moment);
        }
    }

    /// The touchpoint `name` on `path` now; the next step comes some seconds later.
    fn touchpoint(&mut self, walk: &mut Walk, path: &str, name: &str) {
        let url = PageUrl::parse(&format!("{}{path}", self.origin))
            .or_else(|_| PageUrl::parse(&format!("https://shop.example{path}")))
            .expect("the demo's paths make valid URLs");
        walk.events.push(Event::Touchpoint {
            id: EventId(self.next_uuid()),
            at: event_time(walk.at),
            name: TouchpointName::parse(name).expect("the demo's touchpoint names are valid"),
            url,
            referrer: None,
            utm: None,
        });
        walk.at += self.rng.random_range(2_000..90_000);
    }

    /// A score that depends on the journey: about +25 overall, far higher after a checkout,
    /// far lower after contacting support, and a few points better late in the period.
    fn score(&mut self, journey: &Journey, progress: f64) -> Score {
        let mut mean = 8.4 + 0.8 * (progress - 0.5);
        if journey.checkout {
            mean += 1.6;
        }
        if journey.support {
            mean -= 2.8;
        }
        if journey.pricing && !journey.cart {
            mean -= 0.3;
        }
        // The business plan's onboarding is rough: its customers, who pay the most, are the
        // least happy, so weighting by revenue pulls the score down (the demo's story).
        if journey.customer.as_ref().map(|customer| customer.plan) == Some("business") {
            mean -= 2.4;
        }
        // A sum of three uniforms is close enough to a normal spread for survey answers.
        let noise: f64 = (0..3).map(|_| self.rng.random_range(-1.0..1.0)).sum();
        let value = (mean + 1.6 * noise).round().clamp(0.0, 10.0) as u8;
        Score::try_from(value).expect("clamped to 0..=10")
    }

    fn comment(&mut self, category: Category) -> Option<Comment> {
        if !self.rng.random_bool(0.2) {
            return None;
        }
        let choices: &[&str] = match category {
            Category::Promoter => &[
                "Quick delivery and the beans were roasted last week",
                "The grinder is excellent",
                "Easy to set up the subscription",
                "Great coffee, fair price",
            ],
            Category::Passive => &[
                "Good coffee, shipping was a bit slow",
                "Fine, but the subscription is pricey",
                "Hard to find the grind sizes",
            ],
            Category::Detractor => &[
                "Support took three days to answer",
                "My grinder arrived broken",
                "Could not find the delivery costs before checkout",
                "Checkout kept failing",
            ],
        };
        let text = choices[self.rng.random_range(0..choices.len())];
        Comment::parse(text).ok()
    }

    fn next_uuid(&mut self) -> uuid::Uuid {
        self.next_id += 1;
        uuid::Uuid::from_u64_pair(self.id_prefix, self.next_id)
    }
}

impl Iterator for Visits {
    type Item = IncomingBatch;

    fn next(&mut self) -> Option<IncomingBatch> {
        while self.today.is_empty() {
            if self.day + 1 >= self.arrivals_before.len() {
                return None;
            }
            self.make_day();
        }
        self.today.pop()
    }
}

/// A visit being made up: its events so far, and when the next step happens.
struct Walk {
    events: Vec<Event>,
    at: i64,
}

/// What a visitor did that sways their answer.
#[derive(Debug, Default)]
struct Journey {
    pricing: bool,
    cart: bool,
    checkout: bool,
    support: bool,
    /// Who they became by checking out.
    customer: Option<NewCustomer>,
}

/// A visitor who checked out: their id, plan and monthly price in cents, and since when.
#[derive(Debug)]
struct NewCustomer {
    id: CustomerId,
    plan: &'static str,
    price: i64,
    since: i64,
}

fn event_time(millis: i64) -> EventTime {
    EventTime::try_from(millis.max(0)).expect("demo times lie between 1970 and 9999")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> Site {
        Site {
            id: 1,
            key: touchstone_shared::SiteKey::parse("demo").unwrap(),
            name: "Demo".into(),
            origins: Vec::new(),
        }
    }

    fn settings(seed: u64, answers_only: bool) -> DemoSettings {
        DemoSettings {
            visitors: 500,
            days: 7,
            seed,
            until: "2026-02-15T00:00:00Z".parse().unwrap(),
            answers_only,
        }
    }

    fn ids(visits: &[IncomingBatch]) -> Vec<uuid::Uuid> {
        visits
            .iter()
            .flat_map(|visit| visit.events.iter().map(|event| event.id().0))
            .collect()
    }

    #[test]
    fn the_same_seed_makes_the_same_visits_and_another_seed_others() {
        let first: Vec<_> = Visits::new(&site(), &settings(1, false)).collect();
        let again: Vec<_> = Visits::new(&site(), &settings(1, false)).collect();
        let other: Vec<_> = Visits::new(&site(), &settings(2, false)).collect();
        assert_eq!(first.len(), 500);
        assert_eq!(ids(&first), ids(&again));
        assert_eq!(
            first.iter().map(|visit| &visit.events).collect::<Vec<_>>(),
            again.iter().map(|visit| &visit.events).collect::<Vec<_>>()
        );
        assert!(ids(&first).iter().all(|id| !ids(&other).contains(id)));
    }

    #[test]
    fn visits_arrive_in_order_within_the_period_with_growing_ids() {
        let settings = settings(3, false);
        let visits: Vec<_> = Visits::new(&site(), &settings).collect();
        let end = settings.until.as_millisecond();
        let start = end - HOUR - 7 * DAY;
        let arrivals: Vec<i64> = visits
            .iter()
            .map(|visit| visit.events[0].at().millis())
            .collect();
        assert!(arrivals.windows(2).all(|pair| pair[0] <= pair[1]));
        assert!(arrivals[0] >= start);
        for visit in &visits {
            assert!(visit.events.iter().all(|event| event.at().millis() < end));
        }
        let ids = ids(&visits);
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn journeys_sway_the_answers() {
        let visits: Vec<_> = Visits::new(
            &site(),
            &DemoSettings {
                visitors: 20_000,
                ..settings(4, false)
            },
        )
        .collect();
        let after = |moment: &str| {
            let mut tally = touchstone_shared::Tally::default();
            for visit in &visits {
                let reached = visit.events.iter().any(|event| {
                    matches!(event, Event::Touchpoint { name, .. } if name.as_str() == moment)
                });
                for event in &visit.events {
                    if let (Event::Response { score, .. }, true) = (event, reached) {
                        tally.record(score.category());
                    }
                }
            }
            tally.nps().unwrap()
        };
        let (checkout, support, everyone) = (
            after("checkout_completed"),
            after("support_contact"),
            after("page_view"),
        );
        assert!(checkout > everyone + 20.0, "{checkout} vs {everyone}");
        assert!(support < everyone - 30.0, "{support} vs {everyone}");
        assert!((5.0..45.0).contains(&everyone), "{everyone}");
    }

    #[test]
    fn answers_only_makes_one_answer_per_visitor() {
        let mut generator = Visits::new(&site(), &settings(5, true));
        let visits: Vec<_> = generator.by_ref().collect();
        assert_eq!(visits.len(), 500);
        assert!(
            visits.iter().all(|visit| visit.events.len() == 1
                && matches!(visit.events[0], Event::Response { .. }))
        );
        assert!(
            generator.take_revenue().is_empty(),
            "no customers, no revenue"
        );
    }

    #[test]
    fn customers_are_identified_and_billed_and_unhappy_ones_leave() {
        let settings = DemoSettings {
            visitors: 20_000,
            days: 180,
            ..settings(6, false)
        };
        let mut generator = Visits::new(&site(), &settings);
        let visits: Vec<_> = generator.by_ref().collect();
        let revenue = generator.take_revenue();
        let mut category_of = std::collections::HashMap::new();
        let mut identified = std::collections::HashSet::new();
        for visit in &visits {
            let customer = visit.events.iter().find_map(|event| match event {
                Event::Identify {
                    customer, traits, ..
                } => {
                    let plan = traits.iter().find(|(name, _)| name.as_str() == "plan");
                    let business = plan.is_some_and(|(_, plan)| plan.as_str() == "business");
                    assert_eq!(
                        traits.iter().count(),
                        if business { 3 } else { 1 },
                        "the plan, and a business customer's account and seats"
                    );
                    Some(customer.clone())
                }
                _ => None,
            });
            let score = visit.events.iter().find_map(|event| match event {
                Event::Response { score, .. } => Some(score.category()),
                _ => None,
            });
            if let Some(customer) = customer {
                identified.insert(customer.clone());
                if let Some(category) = score {
                    category_of.insert(customer, category);
                }
            }
        }
        assert!(identified.len() > 500, "{}", identified.len());
        assert!(revenue.len() > identified.len(), "monthly invoices");
        let end = settings.until.as_millisecond();
        // Invoices per customer, by the category of their answer: unhappy customers cancel.
        let mut invoices: std::collections::HashMap<Category, (u64, u64)> =
            std::collections::HashMap::new();
        for entry in &revenue {
            assert!(identified.contains(&entry.customer));
            assert_eq!(entry.currency.code(), "EUR");
            assert!(entry.amount > 0 && entry.at < end);
            if let Some(category) = category_of.get(&entry.customer) {
                invoices.entry(*category).or_default().0 += 1;
            }
        }
        for category in category_of.values() {
            invoices.entry(*category).or_default().1 += 1;
        }
        let average = |category| {
            let (count, customers) = invoices[&category];
            count as f64 / customers as f64
        };
        assert!(
            average(Category::Promoter) > 1.3 * average(Category::Detractor),
            "{invoices:?}"
        );
        // The business plan, the dearest, has the unhappiest customers.
        let plans: std::collections::HashMap<&CustomerId, String> = visits
            .iter()
            .flat_map(|visit| &visit.events)
            .filter_map(|event| match event {
                Event::Identify {
                    customer, traits, ..
                } => traits
                    .iter()
                    .find(|(name, _)| name.as_str() == "plan")
                    .map(|(_, plan)| (customer, plan.as_str().to_owned())),
                _ => None,
            })
            .collect();
        let nps_of = |plan: &str| {
            let mut tally = touchstone_shared::Tally::default();
            for (customer, category) in &category_of {
                if plans[customer] == plan {
                    tally.record(*category);
                }
            }
            tally.nps().unwrap()
        };
        assert!(nps_of("business") < nps_of("starter") - 30.0);
        let ids: std::collections::HashSet<_> = revenue.iter().map(|entry| entry.id).collect();
        assert_eq!(ids.len(), revenue.len(), "every invoice has its own id");
    }
}

// The marketers' dashboard: signs in with an API key (kept in this tab's sessionStorage only),
// asks the read API for the period the controls describe, and draws each report.
//
// Every report of a load covers the same instants: the trend is asked first, for whole days in
// the chosen time zone, and its `from` and `to` (the collector's own midnights there) are what
// the other reports are asked for, so no time-zone arithmetic happens in the browser.

import { Api, ApiError, NetworkError } from './api.js';
import * as charts from './charts.js';
import * as fmt from './format.js';

const { h } = charts;
const KEY = 'touchstone.dashboard.key';
const SECTIONS = ['overview', 'comparison', 'trend', 'drivers', 'paths', 'revenue', 'comments'];
/** How many of the latest answers the comments are looked for in, and how many are shown. */
const LATEST_ANSWERS = 200;
const COMMENTS_SHOWN = 8;
const CATEGORIES = [
  ['promoters', 'Promoters', '9–10'],
  ['passives', 'Passives', '7–8'],
  ['detractors', 'Detractors', '0–6'],
];

const $ = (id) => document.getElementById(id);
const body = (section) => $(section).querySelector('.body');
const state = { api: null, holder: null, load: 0, data: null, currency: '', width: 0 };

function start() {
  fillTimeZones();
  $('sign-in-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const key = $('key').value.trim();
    if (key) signIn(key);
  });
  $('sign-out').addEventListener('click', () => signOut(''));
  $('retry').addEventListener('click', () => load());
  for (const id of ['period', 'bucket', 'survey', 'tz']) $(id).addEventListener('change', () => load());
  // Charts are drawn at the width they get; draw again when it changes (a phone turned).
  new ResizeObserver(() => {
    const width = $('main').clientWidth;
    if (state.data && width !== state.width) draw();
  }).observe($('main'));
  const key = sessionStorage.getItem(KEY);
  if (key) signIn(key);
  else showSignIn('');
}

function fillTimeZones() {
  const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  const zones = new Set(Intl.supportedValuesOf ? Intl.supportedValuesOf('timeZone') : []);
  zones.add('UTC');
  zones.add(browserZone);
  $('tz').replaceChildren(...[...zones].sort().map((zone) => h('option', { value: zone, selected: zone === browserZone }, zone)));
}

async function signIn(key) {
  document.body.dataset.state = 'signing-in';
  $('sign-in-error').textContent = '';
  $('opening').hidden = !$('sign-in').hidden;
  const api = new Api(key);
  try {
    state.holder = await api.whoami();
  } catch (error) {
    $('opening').hidden = true;
    sessionStorage.removeItem(KEY);
    showSignIn(
      error instanceof ApiError && error.status === 401
        ? 'This key was refused: it is mistyped, revoked, or not a key of a site on this collector.'
        : describe(error),
    );
    return;
  }
  sessionStorage.setItem(KEY, key);
  $('opening').hidden = true;
  state.api = api;
  $('key').value = '';
  $('sign-in').hidden = true;
  $('main').hidden = false;
  $('sign-out').hidden = false;
  $('site-name').textContent = `· ${state.holder.name}`;
  load();
}

function signOut(message) {
  sessionStorage.removeItem(KEY);
  state.api = null;
  state.data = null;
  state.currency = '';
  state.load += 1;
  for (const section of SECTIONS) body(section).replaceChildren();
  showSignIn(message);
}

function showSignIn(message) {
  $('main').hidden = true;
  $('sign-out').hidden = true;
  $('site-name').textContent = '';
  $('sign-in').hidden = false;
  $('sign-in-error').textContent = message;
  document.title = 'Touchstone dashboard';
  document.body.dataset.state = 'signed-out';
  $('key').focus();
}

/** What went wrong, in words. */
function describe(error) {
  if (error instanceof NetworkError) {
    return 'Could not reach the collector (a network error). Check that it is running and that you are online, then try again.';
  }
  if (error instanceof ApiError) return `The collector answered ${error.status} ${error.code}: ${error.message}`;
  return `Something went wrong in the dashboard: ${error.message}`;
}

async function load() {
  const id = ++state.load;
  const settings = {
    days: Number($('period').value),
    bucket: $('bucket').value,
    tz: $('tz').value,
    survey: $('survey').value,
  };
  document.body.dataset.state = 'loading';
  $('notice').hidden = true;
  $('status').textContent = 'Loading the reports…';
  for (const section of SECTIONS) {
    $(section).setAttribute('aria-busy', 'true');
    if (!state.data) body(section).replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
  }
  try {
    const data = await fetchReports(settings);
    if (id !== state.load) return;
    state.data = data;
    draw();
    $('status').textContent = `Last ${settings.days} days in ${data.trend.time_zone}, trend by ${settings.bucket}. Updated ${new Date().toLocaleTimeString()}.`;
    document.body.dataset.state = 'ready';
  } catch (error) {
    if (id !== state.load) return;
    if (error instanceof ApiError && error.status === 401) {
      signOut('The collector no longer accepts this key (was it revoked?). Sign in with another.');
      return;
    }
    state.data = null;
    for (const section of SECTIONS) body(section).replaceChildren(h('p', { class: 'muted' }, 'Not loaded.'));
    $('notice-text').textContent = describe(error);
    $('notice').hidden = false;
    $('status').textContent = '';
    document.body.dataset.state = 'error';
  } finally {
    if (id === state.load) for (const section of SECTIONS) $(section).removeAttribute('aria-busy');
  }
}

async function fetchReports(settings) {
  const api = state.api;
  const today = fmt.today(settings.tz);
  const survey = settings.survey || undefined;
  const [trend, before] = await Promise.all([
    api.report('nps/trend', { from: fmt.addDays(today, 1 - settings.days), to: today, bucket: settings.bucket, tz: settings.tz, survey }),
    // Only for its bounds: the same number of whole days just before.
    api.report('nps/trend', { from: fmt.addDays(today, 1 - 2 * settings.days), to: fmt.addDays(today, -settings.days), bucket: 'month', tz: settings.tz, survey }),
  ]);
  const period = { from: trend.from, to: trend.to };
  const settled = await Promise.allSettled([
    api.report('nps/compare', { ...period, baseline_from: before.from, baseline_to: before.to, survey }),
    api.report('drivers', { ...period, survey }),
    api.report('paths', { ...period, survey, top: 5 }),
    revenueReport(period, survey),
    api.report('responses', { ...period, survey, limit: LATEST_ANSWERS }),
    api.report('segments', { ...period, by: 'survey' }),
  ]);
  // A refused key or a lost network ends the load; any other error stays in its section.
  for (const result of settled) {
    const error = result.reason;
    if (error instanceof NetworkError || (error instanceof ApiError && error.status === 401)) throw error;
  }
  const [comparison, drivers, paths, revenue, responses, surveys] = settled.map((result) =>
    result.status === 'fulfilled' ? result.value : { error: result.reason },
  );
  return { settings, trend, comparison, drivers, paths, revenue, responses, surveys };
}

/** The revenue report; `{none: true}` where this collector has none (404) to offer. */
async function revenueReport(period, survey) {
  const params = { ...period, survey, currency: state.currency || undefined };
  try {
    return await state.api.report('nps/revenue', params);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return { none: true };
    if (error instanceof ApiError && error.code === 'currency_required' && !params.currency) {
      // Several currencies and none chosen: take the first the collector names.
      const named = error.body?.currencies ?? error.message.match(/\b[A-Z]{3}\b/g) ?? [];
      if (named.length) {
        state.currency = named[0];
        return state.api.report('nps/revenue', { ...params, currency: named[0] });
      }
    }
    throw error;
  }
}

function draw() {
  const data = state.data;
  state.width = $('main').clientWidth;
  const renderers = { overview, comparison, trend, drivers, paths, revenue, comments };
  for (const section of SECTIONS) {
    const target = body(section);
    // The width the section's content gets, less its padding.
    const width = Math.max(240, Math.floor(target.clientWidth || 320));
    let content;
    try {
      content = renderers[section](data, width);
    } catch (error) {
      content = h('p', { class: 'error' }, describe(error));
    }
    target.replaceChildren(...[content].flat().filter(Boolean));
  }
  updateSurveys(data);
  const nps = data.comparison.error ? null : data.comparison.period.nps;
  document.title = `${nps == null ? '' : `NPS ${fmt.score(nps)} · `}${state.holder.name} — Touchstone`;
}

function updateSurveys(data) {
  const chosen = $('survey').value;
  const surveys = data.surveys.error ? [] : data.surveys.segments.map((row) => row.value).filter(Boolean);
  if (chosen && !surveys.includes(chosen)) surveys.push(chosen);
  $('survey-control').hidden = surveys.length < 2 && !chosen;
  $('survey').replaceChildren(
    h('option', { value: '' }, 'All surveys'),
    ...surveys.sort().map((survey) => h('option', { value: survey, selected: survey === chosen }, survey)),
  );
}

const errorText = (report) => h('p', { class: 'error' }, describe(report.error));
const empty = (text) => h('p', { class: 'empty' }, text);

/** The period's days, as the reader reads them: "Nov 4, 2026 – Dec 3, 2026". */
function periodText(data) {
  const last = new Date(new Date(data.trend.to).getTime() - 1);
  return `${fmt.day(data.trend.from, data.trend.time_zone)} – ${fmt.day(last, data.trend.time_zone)}`;
}

function overview(data, width) {
  if (data.comparison.error) return errorText(data.comparison);
  const summary = data.comparison.period;
  if (!summary.responses) return empty(`No answers from ${periodText(data)}.`);
  const { low, high } = summary.confidence_interval;
  return [
    h('p', { class: 'headline' }, h('strong', { class: 'big', 'data-field': 'nps' }, fmt.score(summary.nps)), ' ', h('span', { 'data-field': 'interval' }, `95% CI ${fmt.score(low)} to ${fmt.score(high)}`)),
    h('p', { class: 'muted', 'data-field': 'responses' }, `${fmt.answers(summary.responses)}, ${periodText(data)}`),
    summary.small_sample && h('p', { class: 'warning', 'data-field': 'small-sample' }, 'Fewer than 30 answers: the interval is optimistic; read the score with care.'),
    charts.splitChart(summary, width),
    h(
      'ul',
      { class: 'legend' },
      CATEGORIES.map(([field, name, scores]) =>
        h('li', { 'data-category': field }, h('span', { class: `swatch ${field}`, 'aria-hidden': 'true' }), `${name} (${scores}): `, h('strong', {}, fmt.number(summary[field])), ` · ${fmt.share(summary[field] / summary.responses)}`),
      ),
    ),
  ];
}

/** "NPS rose 6 points (95% CI −2 to 14); this could be chance (p = 0.14)." */
export function changeSentence(change) {
  const size = fmt.score(Math.abs(change.difference));
  const what = size === '0' ? 'NPS held steady (less than half a point)' : `NPS ${change.difference > 0 ? 'rose' : 'fell'} ${size} ${size === '1' ? 'point' : 'points'}`;
  const { low, high } = change.confidence_interval;
  const chance =
    change.p_value == null
      ? 'there is no p-value: both periods are unanimous'
      : change.p_value < 0.05
        ? `this is unlikely to be chance (p ${fmt.pValue(change.p_value)})`
        : `this could be chance (p ${fmt.pValue(change.p_value)})`;
  return `${what} (95% CI ${fmt.score(low)} to ${fmt.score(high)}); ${chance}.`;
}

function comparison(data, width) {
  const change = data.comparison;
  if (change.error) return errorText(change);
  const days = data.settings.days;
  const side = (summary, name) =>
    summary.responses ? `${name}: NPS ${fmt.score(summary.nps)} from ${fmt.answers(summary.responses)}.` : `${name}: no answers.`;
  const periods = h('p', { class: 'muted' }, `${side(change.period, `The last ${days} days`)} ${side(change.baseline, `The ${days} days before`)}`);
  if (change.difference == null) return [empty('No comparison: one of the two periods has no answers.'), periods];
  return [
    h('p', { class: 'sentence', 'data-field': 'change' }, changeSentence(change)),
    charts.differenceChart(change, width),
    periods,
    change.small_sample && h('p', { class: 'warning' }, 'One of the periods has fewer than 30 answers: the interval and the p-value are optimistic.'),
    h('p', { class: 'method' }, `Method: ${change.method}.`),
  ];
}

function trend(data, width) {
  const report = data.trend;
  if (!report.points.some((point) => point.responses > 0)) return empty(`No answers from ${periodText(data)}.`);
  return [
    charts.trendChart(report, width),
    h('p', { class: 'key' }, h('span', { class: 'key-line', 'aria-hidden': 'true' }), 'NPS ', h('span', { class: 'key-band', 'aria-hidden': 'true' }), '95% confidence band ', h('span', { class: 'key-small', 'aria-hidden': 'true' }), 'fewer than 30 answers (the band is optimistic there)'),
  ];
}

function drivers(data, width) {
  const report = data.drivers;
  if (report.error) return errorText(report);
  const intro = h(
    'p',
    { class: 'muted' },
    `The NPS of respondents who reached each touchpoint within ${fmt.number(report.window_days)} days before answering, minus the NPS of those who did not, with its 95% interval. Ranked when both groups have ${fmt.number(report.min_answers)} answers or more. This shows association, not cause.`,
  );
  if (!report.drivers.length) return [intro, empty('No named touchpoints before the answers of this period.')];
  return [intro, charts.driversChart(report, width)];
}

function paths(data) {
  const report = data.paths;
  if (report.error) return errorText(report);
  const column = (rows, title, className) =>
    h(
      'div',
      { class: 'paths-column', 'data-category': className },
      h('h3', {}, title),
      rows.length
        ? h(
            'ol',
            {},
            rows.map((row) =>
              h(
                'li',
                {},
                h('span', { class: 'steps' }, row.steps.length ? row.steps.join(' → ') : '(no named touchpoint)'),
                h('span', { class: 'count' }, `${fmt.answers(row.answers)} · ${fmt.share(row.share)}`),
                charts.shareBar(row.share, className),
              ),
            ),
          )
        : empty('No answers.'),
    );
  return [
    h('p', { class: 'muted' }, `The last ${fmt.number(report.length)} named touchpoints within ${fmt.number(report.window_days)} days before each answer, commonest first.`),
    report.partial && h('p', { class: 'warning' }, 'The period holds more journey steps than one report reads: these paths describe part of the answers.'),
    h('div', { class: 'paths' }, column(report.promoter, 'To promoters', 'promoters'), column(report.detractor, 'To detractors', 'detractors')),
  ];
}

function revenue(data, width) {
  const report = data.revenue;
  if (report.error) return errorText(report);
  const nothing = report.none || !(Number(report.revenue?.total) > 0) || !report.customers?.total;
  if (nothing) {
    return [
      empty('No revenue imported yet.'),
      h('p', { class: 'muted' }, 'Once revenue per customer is imported, this shows how much of it stands behind promoters, passives and detractors (customers are linked to answers by identify).'),
    ];
  }
  const currencies = report.currencies ?? [report.currency];
  const picker =
    currencies.length > 1 &&
    h('label', { class: 'inline' }, 'Currency ', h('select', { id: 'currency' }, currencies.map((code) => h('option', { value: code, selected: code === report.currency }, code))));
  if (picker) {
    picker.querySelector('select').addEventListener('change', (event) => {
      state.currency = event.target.value;
      load();
    });
  }
  const figure = (name, value, field) => [h('dt', {}, name), h('dd', { 'data-field': field }, value)];
  return [
    picker,
    charts.revenueChart(report, width),
    h(
      'dl',
      { class: 'figures' },
      figure('Revenue-weighted NPS', fmt.score(report.revenue_weighted_nps), 'revenue-weighted-nps'),
      figure('Revenue at risk (detractors)', fmt.money(report.revenue_at_risk, report.currency), 'revenue-at-risk'),
      figure("Promoters' share of revenue", report.promoter_revenue_share == null ? '–' : fmt.share(report.promoter_revenue_share), 'promoter-share'),
      figure('Revenue counted', `${fmt.money(report.revenue.total, report.currency)} from ${fmt.number(report.customers.total)} customers`, 'revenue-total'),
    ),
  ];
}

/** "4 page views · pricing_viewed → add_to_cart": a journey without its repeats. */
export function journeyText(touchpoints) {
  const pages = touchpoints.filter((step) => step.name === 'page_view').length;
  const moments = [];
  for (const step of touchpoints) {
    if (step.name !== 'page_view' && moments.at(-1) !== step.name) moments.push(step.name);
  }
  const views = `${fmt.number(pages)} page ${pages === 1 ? 'view' : 'views'}`;
  return moments.length ? `${views} · ${moments.join(' → ')}` : views;
}

function comments(data) {
  const report = data.responses;
  if (report.error) return errorText(report);
  const tz = data.trend.time_zone;
  const commented = report.responses.filter((answer) => answer.comment).slice(0, COMMENTS_SHOWN);
  if (!commented.length) return empty(`No comments among the latest ${fmt.number(report.responses.length)} answers of this period.`);
  return h(
    'ol',
    { class: 'comments' },
    commented.map((answer) =>
      h(
        'li',
        {},
        h(
          'p',
          { class: 'meta' },
          h('span', { class: `badge ${answer.category}s` }, `${answer.score} · ${answer.category}`),
          ' ',
          h('time', { datetime: answer.at }, fmt.dateTime(answer.at, tz)),
          answer.device && ` · ${answer.device}`,
        ),
        h('blockquote', {}, answer.comment),
        h('p', { class: 'journey' }, `Journey: ${journeyText(answer.touchpoints)}`),
      ),
    ),
  );
}

start();

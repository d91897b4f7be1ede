// The charts, as inline SVG drawn at the width they get (so text stays readable on a phone).
// Each is a figure whose SVG has role="img", named and described (with its numbers) by its own
// <title> and <desc>; a table with every number follows it. All text goes in as text, never as
// markup, and nothing uses style attributes, so the page's Content-Security-Policy holds.

import * as fmt from './format.js';

const SVG = 'http://www.w3.org/2000/svg';
let nextId = 0;

/** An HTML element with attributes and children (strings become text nodes). */
export function h(tag, attributes = {}, ...children) {
  return build(document.createElement(tag), attributes, children);
}

/** An SVG element, as `h`. */
export function s(tag, attributes = {}, ...children) {
  return build(document.createElementNS(SVG, tag), attributes, children);
}

function build(node, attributes, children) {
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A figure: the SVG named by `title` and described by `description`, then its numbers as a table. */
function figure(svgNode, title, description, table) {
  const id = `chart-${++nextId}`;
  svgNode.setAttribute('role', 'img');
  svgNode.setAttribute('aria-labelledby', `${id}-title ${id}-desc`);
  svgNode.prepend(s('title', { id: `${id}-title` }, title), s('desc', { id: `${id}-desc` }, description));
  return h('figure', { class: 'chart' }, svgNode, table && h('details', {}, h('summary', {}, 'Show the numbers'), table));
}

/** A table: `head` is a list of column names, `rows` lists of cells. */
export function table(caption, head, rows) {
  return h(
    'table',
    {},
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, head.map((name) => h('th', { scope: 'col' }, name)))),
    h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((cell, index) => (index === 0 ? h('th', { scope: 'row' }, cell) : h('td', {}, cell)))))),
  );
}

/** Round numbers for an axis from `low` to `high`, about `count` of them. */
function ticks(low, high, count) {
  const raw = (high - low) / Math.max(1, count);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((candidate) => candidate >= raw) ?? raw;
  const values = [];
  for (let value = Math.ceil(low / step) * step; value <= high + 1e-9; value += step) values.push(Math.round(value * 1e6) / 1e6);
  return values;
}

/** The NPS of each bucket with its 95% band; hollow points have fewer than 30 answers. */
export function trendChart(report, width) {
  const points = report.points;
  const height = 240;
  const margin = { left: 40, right: 12, top: 12, bottom: 30 };
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const filled = points.filter((point) => point.nps !== null);
  let low = Math.min(0, ...filled.map((point) => point.confidence_interval.low));
  let high = Math.max(0, ...filled.map((point) => point.confidence_interval.high));
  low = Math.max(-100, Math.floor(low / 20) * 20);
  high = Math.min(100, Math.max(low + 20, Math.ceil(high / 20) * 20));
  const x = (index) => margin.left + ((index + 0.5) * plotWidth) / points.length;
  const y = (value) => margin.top + ((high - value) / (high - low)) * plotHeight;
  const label = (point) => fmt.bucketLabel(point.start, report.bucket, report.time_zone);

  const chart = s('svg', { width, height, viewBox: `0 0 ${width} ${height}`, class: 'trend' });
  for (const value of ticks(low, high, 5)) {
    chart.append(
      s('line', { x1: margin.left, x2: width - margin.right, y1: y(value), y2: y(value), class: value === 0 ? 'axis zero' : 'gridline' }),
      s('text', { x: margin.left - 6, y: y(value) + 4, class: 'tick', 'text-anchor': 'end' }, fmt.score(value)),
    );
  }
  const every = Math.max(1, Math.ceil(points.length / Math.max(1, Math.floor(plotWidth / 80))));
  points.forEach((point, index) => {
    if (index % every === 0) {
      chart.append(s('text', { x: x(index), y: height - 10, class: 'tick', 'text-anchor': 'middle' }, label(point)));
    }
  });
  // Runs of buckets with answers: the band and the line break where a bucket has none.
  const runs = [];
  points.forEach((point, index) => {
    if (point.nps === null) return;
    const run = runs.at(-1);
    if (run && run.at(-1) === index - 1) run.push(index);
    else runs.push([index]);
  });
  const interval = (index) => points[index].confidence_interval;
  for (const run of runs) {
    if (run.length === 1) {
      const [index] = run;
      const half = Math.min(6, plotWidth / points.length / 2);
      const top = y(interval(index).high);
      chart.append(s('rect', { x: x(index) - half, y: top, width: 2 * half, height: Math.max(1, y(interval(index).low) - top), class: 'band' }));
      continue;
    }
    const upper = run.map((index) => `${x(index)},${y(interval(index).high)}`);
    const lower = [...run].reverse().map((index) => `${x(index)},${y(interval(index).low)}`);
    chart.append(
      s('polygon', { points: [...upper, ...lower].join(' '), class: 'band' }),
      s('polyline', { points: run.map((index) => `${x(index)},${y(points[index].nps)}`).join(' '), class: 'line' }),
    );
  }
  points.forEach((point, index) => {
    if (point.nps === null) return;
    chart.append(
      s(
        'circle',
        { cx: x(index), cy: y(point.nps), r: 3.5, class: point.small_sample ? 'dot small' : 'dot' },
        s('title', {}, `${label(point)}: NPS ${fmt.score(point.nps)} (95% CI ${fmt.score(point.confidence_interval.low)} to ${fmt.score(point.confidence_interval.high)}), ${fmt.answers(point.responses)}`),
      ),
    );
  });

  const small = filled.filter((point) => point.small_sample).length;
  const latest = filled.at(-1);
  const description = filled.length
    ? `${points.length} ${report.bucket}s from ${label(points[0])} to ${label(points.at(-1))}. NPS between ${fmt.score(Math.min(...filled.map((p) => p.nps)))} and ${fmt.score(Math.max(...filled.map((p) => p.nps)))}; the latest, ${label(latest)}, ${fmt.score(latest.nps)} (95% CI ${fmt.score(latest.confidence_interval.low)} to ${fmt.score(latest.confidence_interval.high)}). ${small} of ${filled.length} points have fewer than 30 answers.`
    : 'No answers in this period.';
  const rows = points.map((point) => [
    label(point),
    fmt.number(point.responses),
    fmt.score(point.nps),
    fmt.score(point.confidence_interval?.low),
    fmt.score(point.confidence_interval?.high),
    point.responses === 0 ? '' : point.small_sample ? 'yes' : 'no',
  ]);
  return figure(
    chart,
    `NPS by ${report.bucket}, with its 95% confidence band`,
    description,
    table(`NPS by ${report.bucket} (${report.time_zone})`, [report.bucket[0].toUpperCase() + report.bucket.slice(1), 'Answers', 'NPS', '95% CI low', '95% CI high', 'Fewer than 30 answers'], rows),
  );
}

const CATEGORIES = [
  ['promoters', 'Promoters', '9–10'],
  ['passives', 'Passives', '7–8'],
  ['detractors', 'Detractors', '0–6'],
];

/** Promoters, passives and detractors as one stacked bar. */
export function splitChart(summary, width) {
  const height = 28;
  const chart = s('svg', { width, height, viewBox: `0 0 ${width} ${height}`, class: 'split' });
  let offset = 0;
  const parts = CATEGORIES.map(([field, name]) => {
    const part = summary.responses ? summary[field] / summary.responses : 0;
    const span = part * width;
    chart.append(s('rect', { x: offset, y: 0, width: span, height, class: field }));
    offset += span;
    return `${name}: ${fmt.number(summary[field])} (${fmt.share(part)})`;
  });
  return figure(chart, 'Answers by category', `${parts.join('; ')}. ${fmt.answers(summary.responses)}.`, null);
}

/** A difference and its interval on an axis through zero, each end labelled. */
export function differenceChart(change, width) {
  const height = 64;
  const margin = 28;
  const { low, high } = change.confidence_interval;
  const from = Math.min(low, 0);
  const to = Math.max(high, 0);
  const pad = Math.max(5, (to - from) * 0.1);
  const x = (value) => margin + ((value - (from - pad)) / (to - from + 2 * pad)) * (width - 2 * margin);
  const label = (value, y, className, text) => s('text', { x: x(value), y, class: className, 'text-anchor': 'middle' }, text);
  const chart = s(
    'svg',
    { width, height, viewBox: `0 0 ${width} ${height}`, class: 'difference' },
    s('line', { x1: x(0), x2: x(0), y1: 16, y2: 46, class: 'axis zero' }),
    label(0, 60, 'tick', '0'),
    s('line', { x1: x(low), x2: x(high), y1: 31, y2: 31, class: 'whisker' }),
    s('line', { x1: x(low), x2: x(low), y1: 25, y2: 37, class: 'whisker' }),
    s('line', { x1: x(high), x2: x(high), y1: 25, y2: 37, class: 'whisker' }),
    s('circle', { cx: x(change.difference), cy: 31, r: 5, class: 'dot' }),
    label(change.difference, 14, 'value', fmt.signedScore(change.difference)),
    label(low, 52, 'tick', fmt.score(low)),
    label(high, 52, 'tick', fmt.score(high)),
  );
  return figure(
    chart,
    'The change in NPS with its 95% confidence interval',
    `${fmt.signedScore(change.difference)} points, 95% CI ${fmt.score(low)} to ${fmt.score(high)}.`,
    null,
  );
}

/** Each touchpoint's difference (with − without) and its interval, ranked first. */
export function driversChart(report, width) {
  const drivers = report.drivers.filter((driver) => driver.difference !== null);
  const rowHeight = 46;
  const height = drivers.length * rowHeight + 24;
  const bounds = drivers.flatMap((driver) => [driver.confidence_interval.low, driver.confidence_interval.high]);
  const from = Math.min(0, ...bounds);
  const to = Math.max(0, ...bounds);
  const pad = Math.max(5, (to - from) * 0.05);
  const x = (value) => 8 + ((value - (from - pad)) / (to - from + 2 * pad)) * (width - 16);
  const chart = s('svg', { width, height, viewBox: `0 0 ${width} ${height}`, class: 'drivers' });
  chart.append(
    s('line', { x1: x(0), x2: x(0), y1: 0, y2: height - 20, class: 'axis zero' }),
    s('text', { x: x(0), y: height - 6, class: 'tick', 'text-anchor': 'middle' }, '0'),
  );
  drivers.forEach((driver, index) => {
    const top = index * rowHeight;
    const { low, high } = driver.confidence_interval;
    const kind = driver.ranked ? (low > 0 ? 'up' : high < 0 ? 'down' : 'flat') : 'unranked';
    chart.append(
      s(
        'g',
        { class: `driver ${kind}` },
        s('text', { x: 8, y: top + 16, class: 'name' }, driver.touchpoint),
        s('text', { x: width - 8, y: top + 16, class: 'value', 'text-anchor': 'end' }, driver.ranked ? `${fmt.signedScore(driver.difference)} (${fmt.score(low)} to ${fmt.score(high)})` : 'too few answers'),
        s('line', { x1: x(low), x2: x(high), y1: top + 30, y2: top + 30, class: 'whisker' }),
        s('circle', { cx: x(driver.difference), cy: top + 30, r: 4.5, class: 'dot' }),
      ),
    );
  });
  const ranked = report.drivers.filter((driver) => driver.ranked);
  const description = ranked.length
    ? ranked.map((driver) => `${driver.touchpoint}: ${fmt.signedScore(driver.difference)} points (95% CI ${fmt.score(driver.confidence_interval.low)} to ${fmt.score(driver.confidence_interval.high)})`).join('; ') + '.'
    : `No touchpoint has ${fmt.number(report.min_answers)} answers on both sides yet.`;
  const rows = report.drivers.map((driver) => [
    driver.touchpoint,
    fmt.score(driver.with.nps),
    fmt.number(driver.with.responses),
    fmt.score(driver.without.nps),
    fmt.number(driver.without.responses),
    fmt.signedScore(driver.difference),
    fmt.score(driver.confidence_interval?.low),
    fmt.score(driver.confidence_interval?.high),
    driver.p_value == null ? '–' : `p ${fmt.pValue(driver.p_value)}`,
    driver.ranked ? 'yes' : 'no',
  ]);
  return figure(
    chart,
    'NPS with each touchpoint minus NPS without it, with 95% intervals',
    description,
    table('Drivers', ['Touchpoint', 'NPS with', 'Answers with', 'NPS without', 'Answers without', 'Difference', '95% CI low', '95% CI high', 'p-value', 'Ranked'], rows),
  );
}

/** Revenue per category as bars, amounts as decimal strings in `report.currency`. */
export function revenueChart(report, width) {
  const rowHeight = 44;
  const height = CATEGORIES.length * rowHeight;
  const total = Number(report.revenue.total) || 1;
  const chart = s('svg', { width, height, viewBox: `0 0 ${width} ${height}`, class: 'revenue' });
  const parts = CATEGORIES.map(([field, name], index) => {
    const top = index * rowHeight;
    const amount = fmt.money(report.revenue[field], report.currency);
    const customers = `${fmt.number(report.customers[field])} customers`;
    chart.append(
      s('text', { x: 0, y: top + 15, class: 'name' }, `${name} · ${customers}`),
      s('text', { x: width, y: top + 15, class: 'value', 'text-anchor': 'end' }, amount),
      s('rect', { x: 0, y: top + 22, width: width, height: 12, class: 'track' }),
      s('rect', { x: 0, y: top + 22, width: (Number(report.revenue[field]) / total) * width, height: 12, class: field }),
    );
    return `${name}: ${amount} from ${customers}`;
  });
  return figure(chart, `Revenue by category (${report.currency})`, `${parts.join('; ')}.`, null);
}

/** A thin bar for a share from 0 to 1. */
export function shareBar(part, className) {
  return s(
    'svg',
    { class: 'share', viewBox: '0 0 100 6', preserveAspectRatio: 'none', 'aria-hidden': 'true', focusable: 'false' },
    s('rect', { x: 0, y: 0, width: 100, height: 6, class: 'track' }),
    s('rect', { x: 0, y: 0, width: Math.max(0, Math.min(1, part)) * 100, height: 6, class: className }),
  );
}

// Numbers, dates and money in the reader's language, with Intl. Scores are whole points (the
// interval is wider than a decimal), negatives carry a true minus sign (U+2212).

const MINUS = '\u2212';

const whole = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0, signDisplay: 'negative' });
const signedWhole = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0, signDisplay: 'exceptZero' });
const count = new Intl.NumberFormat(undefined);
const percent = new Intl.NumberFormat(undefined, { style: 'percent', maximumFractionDigits: 0 });
const twoDigits = new Intl.NumberFormat(undefined, { minimumSignificantDigits: 2, maximumSignificantDigits: 2 });

const withMinus = (text) => text.replace(/-/g, MINUS);

/** An NPS or a bound of its interval, in whole points: "31", "−4"; a dash when there is none. */
export const score = (value) => (value == null ? '–' : withMinus(whole.format(value)));

/** A difference in whole points with its sign: "+6", "−12", "0". */
export const signedScore = (value) => (value == null ? '–' : withMinus(signedWhole.format(value)));

/** A count: "1,234". */
export const number = (value) => count.format(value);

/** "1 answer", "1,234 answers". */
export const answers = (value) => `${count.format(value)} ${value === 1 ? 'answer' : 'answers'}`;

/** A share from 0 to 1 as a percentage: "54%". */
export const share = (value) => percent.format(value);

/** A p-value with two significant digits, or "< 0.001". */
export const pValue = (value) => (value < 0.001 ? `< ${count.format(0.001)}` : `= ${twoDigits.format(value)}`);

/** An amount given as a decimal string (never a float) in `currency`: "€12,345.67". */
export const money = (amount, currency) => {
  try {
    return withMinus(new Intl.NumberFormat(undefined, { style: 'currency', currency }).format(amount));
  } catch {
    return `${amount} ${currency}`;
  }
};

/** "Nov 3", "Week of Nov 3" or "Nov 2026": a trend point's label in the report's time zone. */
export function bucketLabel(start, bucket, timeZone) {
  const date = new Date(start);
  if (bucket === 'month') {
    return new Intl.DateTimeFormat(undefined, { timeZone, month: 'short', year: 'numeric' }).format(date);
  }
  const day = new Intl.DateTimeFormat(undefined, { timeZone, month: 'short', day: 'numeric' }).format(date);
  return bucket === 'week' ? `Week of ${day}` : day;
}

/** A date and time in the report's time zone: "Nov 3, 2026, 4:05 PM". */
export const dateTime = (instant, timeZone) =>
  new Intl.DateTimeFormat(undefined, { timeZone, dateStyle: 'medium', timeStyle: 'short' }).format(new Date(instant));

/** A whole day: "Nov 3, 2026". */
export const day = (instant, timeZone) =>
  new Intl.DateTimeFormat(undefined, { timeZone, dateStyle: 'medium' }).format(new Date(instant));

/** Today's date in `timeZone`, as `2026-11-03`. */
export function today(timeZone) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' })
      .formatToParts(new Date())
      .map((part) => [part.type, part.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day}`;
}

/** `date` (`2026-11-03`) moved by `days` calendar days. */
export function addDays(date, days) {
  const [year, month, dayOfMonth] = date.split('-').map(Number);
  return new Date(Date.UTC(year, month - 1, dayOfMonth + days)).toISOString().slice(0, 10);
}

/** The longest wait a `Retry-After` header can impose (1 hour); longer values are capped. */
export const MAX_RETRY_AFTER_MS = 60 * 60 * 1000;

const DAY_NAMES = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
const LONG_DAY_NAMES = [
  'Monday',
  'Tuesday',
  'Wednesday',
  'Thursday',
  'Friday',
  'Saturday',
  'Sunday',
];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const TIME = String.raw`(\d{2}):(\d{2}):(\d{2})`;
const MONTH = `(${MONTHS.join('|')})`;

/** `Sun, 06 Nov 1994 08:49:37 GMT` (the preferred form). */
const IMF_FIXDATE = new RegExp(
  `^(?:${DAY_NAMES.join('|')}), (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`,
);
/** `Sunday, 06-Nov-94 08:49:37 GMT` (obsolete). */
const RFC_850 = new RegExp(
  `^(?:${LONG_DAY_NAMES.join('|')}), (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`,
);
/** `Sun Nov  6 08:49:37 1994` (obsolete, C's asctime). */
const ASCTIME = new RegExp(`^(?:${DAY_NAMES.join('|')}) ${MONTH} ( \\d|\\d{2}) ${TIME} (\\d{4})$`);

/**
 * How long a `Retry-After` header asks us to wait, in whole milliseconds, or `undefined` when
 * the header is absent or not understood. Pure (the current time is a parameter).
 *
 * - delta-seconds (`120`; a fraction such as `1.5` is accepted and rounded up to the millisecond);
 * - an HTTP-date in any of the three forms of RFC 9110 §5.6.7 (IMF-fixdate, RFC 850, asctime),
 *   always GMT; a date in the past means no wait (0).
 *
 * The result is capped at `maxMs` (default `MAX_RETRY_AFTER_MS`, one hour), so a broken or
 * hostile server cannot park a step for days.
 */
export function parseRetryAfter(
  header: string | null | undefined,
  nowMs: number,
  maxMs: number = MAX_RETRY_AFTER_MS,
): number | undefined {
  if (typeof header !== 'string') return undefined;
  const value = header.trim();
  let waitMs: number | undefined;
  if (/^\d+(\.\d+)?$/.test(value)) {
    waitMs = Math.ceil(Number(value) * 1000);
  } else {
    const at = parseHttpDate(value, nowMs);
    if (at !== undefined) waitMs = Math.max(0, Math.ceil(at - nowMs));
  }
  if (waitMs === undefined || !Number.isFinite(waitMs)) return undefined;
  return Math.min(waitMs, Math.max(0, Math.floor(maxMs)));
}

/** Milliseconds since the epoch of an HTTP-date, or `undefined` if `value` is not one. */
export function parseHttpDate(value: string, nowMs: number): number | undefined {
  let m = IMF_FIXDATE.exec(value);
  if (m !== null) return utc(+m[3], m[2], +m[1], +m[4], +m[5], +m[6]);
  m = RFC_850.exec(value);
  if (m !== null) return utc(fullYear(+m[3], nowMs), m[2], +m[1], +m[4], +m[5], +m[6]);
  m = ASCTIME.exec(value);
  if (m !== null) return utc(+m[6], m[1], +m[2].trim(), +m[3], +m[4], +m[5]);
  return undefined;
}

/** RFC 9110: a two-digit year more than 50 years in the future is in the past century. */
function fullYear(twoDigits: number, nowMs: number): number {
  const year = 2000 + twoDigits;
  return year > new Date(nowMs).getUTCFullYear() + 50 ? year - 100 : year;
}

function utc(
  year: number,
  month: string,
  day: number,
  hour: number,
  minute: number,
  second: number,
): number | undefined {
  const monthIndex = MONTHS.indexOf(month);
  if (hour > 23 || minute > 59 || second > 60) return undefined;
  const ms = Date.UTC(year, monthIndex, day, hour, minute, Math.min(second, 59));
  // Reject dates that do not exist (Feb 30), which Date.UTC would roll over.
  if (new Date(ms).getUTCDate() !== day) return undefined;
  return ms;
}

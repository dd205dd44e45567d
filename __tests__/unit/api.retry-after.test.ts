import { MAX_RETRY_AFTER_MS, parseRetryAfter } from '../../src/index';
import { parseHttpDate } from '../../src/api/retry-after';

/** 2024-03-01T12:00:00Z, a Friday. */
const NOW = Date.UTC(2024, 2, 1, 12, 0, 0);

describe('parseRetryAfter', () => {
  it.each<[string, string | null | undefined, number | undefined]>([
    ['absent', undefined, undefined],
    ['null', null, undefined],
    ['empty', '', undefined],
    ['zero seconds', '0', 0],
    ['delta-seconds', '120', 120_000],
    ['delta-seconds with spaces', '  7 ', 7_000],
    ['fractional seconds, rounded up to the ms', '1.5', 1_500],
    ['fractional seconds below a ms', '0.0004', 1],
    ['exactly the cap', '3600', MAX_RETRY_AFTER_MS],
    ['above the cap', '86400', MAX_RETRY_AFTER_MS],
    ['a huge number', '99999999999999999999999', MAX_RETRY_AFTER_MS],
    ['negative seconds', '-5', undefined],
    ['seconds with a unit', '10s', undefined],
    ['garbage', 'soon', undefined],
    ['two values', '10, 20', undefined],
    ['IMF-fixdate 90 s ahead', 'Fri, 01 Mar 2024 12:01:30 GMT', 90_000],
    ['IMF-fixdate now', 'Fri, 01 Mar 2024 12:00:00 GMT', 0],
    ['IMF-fixdate in the past', 'Thu, 29 Feb 2024 23:59:59 GMT', 0],
    ['IMF-fixdate two days ahead (capped)', 'Sun, 03 Mar 2024 12:00:00 GMT', MAX_RETRY_AFTER_MS],
    ['RFC 850 date 30 s ahead', 'Friday, 01-Mar-24 12:00:30 GMT', 30_000],
    ['asctime date 45 s ahead', 'Fri Mar  1 12:00:45 2024', 45_000],
    ['asctime with a two-digit day', 'Sun Mar 10 12:00:00 2024', MAX_RETRY_AFTER_MS],
    ['a date not in GMT', 'Fri, 01 Mar 2024 12:01:30 PST', undefined],
    ['an ISO date', '2024-03-01T12:01:30Z', undefined],
    ['a date that does not exist', 'Fri, 30 Feb 2024 12:00:00 GMT', undefined],
    ['an hour out of range', 'Fri, 01 Mar 2024 24:00:00 GMT', undefined],
    ['a lower-case month', 'Fri, 01 mar 2024 12:01:30 GMT', undefined],
  ])('%s: %j → %j ms', (_label, header, expected) => {
    expect(parseRetryAfter(header, NOW)).toBe(expected);
  });

  it.each<[string, number, number]>([
    ['a lower cap', 10_000, 10_000],
    ['a cap of zero', 0, 0],
    ['a fractional cap (floored)', 1500.7, 1500],
    ['a negative cap (treated as zero)', -1, 0],
  ])('honours %s', (_label, cap, expected) => {
    expect(parseRetryAfter('60', NOW, cap)).toBe(expected);
  });
});

describe('parseHttpDate', () => {
  it.each<[string, number | undefined]>([
    ['Sun, 06 Nov 1994 08:49:37 GMT', Date.UTC(1994, 10, 6, 8, 49, 37)],
    ['Sunday, 06-Nov-94 08:49:37 GMT', Date.UTC(1994, 10, 6, 8, 49, 37)],
    ['Sun Nov  6 08:49:37 1994', Date.UTC(1994, 10, 6, 8, 49, 37)],
    // A two-digit year at most 50 years ahead is in this century.
    ['Monday, 01-Jan-69 00:00:00 GMT', Date.UTC(2069, 0, 1)],
    ['Tuesday, 01-Jan-75 00:00:00 GMT', Date.UTC(1975, 0, 1)],
    // A leap second is read as :59.
    ['Sat, 31 Dec 2016 23:59:60 GMT', Date.UTC(2016, 11, 31, 23, 59, 59)],
    ['Sat, 31 Dec 2016 23:60:00 GMT', undefined],
    ['Sat, 00 Dec 2016 10:00:00 GMT', undefined],
    ['31 Dec 2016 10:00:00 GMT', undefined],
  ])('%s', (value, expected) => {
    expect(parseHttpDate(value, NOW)).toBe(expected);
  });
});

/**
 * Database URLs with their secrets hidden, for every message or log line that shows one. The one
 * TypeScript implementation (the library, its tests, the benchmarks and the examples all use it);
 * the Rust core's `tasker_storage::redact` does the same with the same URL standard (WHATWG), and
 * both run the same table of cases (`__tests__/fixtures/redaction-cases.json`).
 */

const HIDDEN = '***';

/**
 * Whether a query (or libpq keyword) parameter holds a secret: libpq's `password` and
 * `sslpassword`, and, to be safe, any name containing `password`, `secret` or `token`.
 */
export function isSecretParameter(name: string): boolean {
  const lower = name.toLowerCase();
  return ['password', 'secret', 'token'].some((s) => lower.includes(s));
}

/**
 * `url` with every credential replaced by `***`: the userinfo password
 * (`postgres://bob:***@host/db`) and the value of every secret query parameter (`?password=***`,
 * `?sslpassword=***`). A URL that cannot be parsed, or whose userinfo would be misread (an
 * unencoded `/`, `?` or `#` in the password leaves an `@` after the host), loses everything
 * between `://` and its last `@` instead. Text without `://` is read as a libpq `keyword=value`
 * string (`host=db password=***`).
 */
export function redactDatabaseUrl(url: string): string {
  if (!url.includes('://')) return redactKeywordValues(url);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return redactUnparsed(url);
  }
  const afterAuthority = `${parsed.pathname}${parsed.search}${parsed.hash}`;
  if (afterAuthority.includes('@')) return redactUnparsed(url);
  if (parsed.password !== '') parsed.password = HIDDEN;
  if (parsed.search !== '') parsed.search = redactQuery(parsed.search.slice(1));
  return parsed.toString();
}

/** `a=1&password=x` → `a=1&password=***`, every other byte kept as written. */
function redactQuery(query: string): string {
  return query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq === -1 ? pair : pair.slice(0, eq);
      return isSecretParameter(percentDecode(name)) ? `${name}=${HIDDEN}` : pair;
    })
    .join('&');
}

function percentDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Hide the userinfo up to the last `@`, and secret query parameters. */
function redactUnparsed(url: string): string {
  const schemeEnd = url.indexOf('://') + 3;
  const head = url.slice(0, schemeEnd);
  let rest = url.slice(schemeEnd);
  const at = rest.lastIndexOf('@');
  if (at !== -1) rest = `${HIDDEN}${rest.slice(at)}`;
  const q = rest.indexOf('?');
  if (q === -1) return `${head}${rest}`;
  const before = rest.slice(0, q);
  let query = rest.slice(q + 1);
  let fragment = '';
  const hash = query.indexOf('#');
  if (hash !== -1) {
    fragment = query.slice(hash);
    query = query.slice(0, hash);
  }
  return `${head}${before}?${redactQuery(query)}${fragment}`;
}

/**
 * `host=db password='a b'` → `host=db password=***` (libpq's format: optional spaces around `=`,
 * values single-quoted with `\'` and `\\` escapes, or up to the next space).
 */
function redactKeywordValues(text: string): string {
  const c = Array.from(text);
  const n = c.length;
  const isSpace = (ch: string) => /\s/.test(ch);
  let out = '';
  let i = 0;
  while (i < n) {
    if (isSpace(c[i])) {
      out += c[i];
      i += 1;
      continue;
    }
    const start = i;
    while (i < n && !isSpace(c[i]) && c[i] !== '=') i += 1;
    const keyword = c.slice(start, i).join('');
    let j = i;
    while (j < n && isSpace(c[j])) j += 1;
    if (j >= n || c[j] !== '=') {
      out += keyword;
      continue;
    }
    j += 1;
    while (j < n && isSpace(c[j])) j += 1;
    const valueStart = j;
    if (j < n && c[j] === "'") {
      j += 1;
      while (j < n && c[j] !== "'") j += c[j] === '\\' ? 2 : 1;
      j += 1;
    } else {
      while (j < n && !isSpace(c[j])) j += c[j] === '\\' ? 2 : 1;
    }
    j = Math.min(j, n);
    out += c.slice(start, valueStart).join('');
    out += isSecretParameter(keyword) ? HIDDEN : c.slice(valueStart, j).join('');
    i = j;
  }
  return out;
}

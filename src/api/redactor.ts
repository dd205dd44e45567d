/** What replaces a credential in messages, metadata and logs. */
export const REDACTED = '[REDACTED]';

/** Header and query-parameter names whose values are treated as credentials. */
const SENSITIVE_NAME =
  /auth|token|secret|passw(or)?d|api[-_.]?key|apikey|cookie|session|credential|signature|private/i;

export function isSensitiveName(name: string): boolean {
  return SENSITIVE_NAME.test(name);
}

/**
 * Removes known credential values from text: every occurrence of a secret (and of its
 * URL-encoded, base64 and JSON-escaped forms) becomes `[REDACTED]`. Immutable: `with()` returns
 * a new redactor with more secrets.
 */
export class Redactor {
  private readonly secrets: readonly string[];

  constructor(secrets: Iterable<string> = []) {
    const all = new Set<string>();
    for (const secret of secrets) {
      if (typeof secret !== 'string' || secret === '') continue;
      all.add(secret);
      all.add(encodeURIComponent(secret));
      all.add(new URLSearchParams({ s: secret }).toString().slice(2));
      all.add(JSON.stringify(secret).slice(1, -1));
    }
    // Longest first, so that a secret containing another is removed whole.
    this.secrets = [...all].filter((s) => s !== '').sort((a, b) => b.length - a.length);
  }

  with(secrets: Iterable<string>): Redactor {
    return new Redactor([...this.secrets, ...secrets]);
  }

  get size(): number {
    return this.secrets.length;
  }

  text(value: string): string {
    let out = value;
    for (const secret of this.secrets) out = out.split(secret).join(REDACTED);
    return out;
  }

  /** A JSON-compatible copy of `value` with every secret removed from its strings and keys. */
  json<T>(value: T): T {
    if (this.secrets.length === 0 || value === undefined) return value;
    const text = JSON.stringify(value);
    if (text === undefined) return value;
    const redacted = this.text(text);
    try {
      return JSON.parse(redacted) as T;
    } catch {
      // A secret that looked like JSON syntax was cut out of the structure: keep the text.
      return redacted as T;
    }
  }
}

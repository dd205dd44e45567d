import * as fs from 'fs';
import * as path from 'path';
import { redactDatabaseUrl } from '../../src/index';

interface Case {
  form: string;
  url: string;
  redacted: string;
  secret?: string;
}

// The same table the Rust core's `redact` runs (crates/tasker-storage/src/redact.rs).
const cases = JSON.parse(
  fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'redaction-cases.json'), 'utf8'),
) as Case[];

describe('redactDatabaseUrl', () => {
  it.each(cases.map((c) => [c.form, c] as const))('%s', (_form, c) => {
    const redacted = redactDatabaseUrl(c.url);
    expect(redacted).toBe(c.redacted);
    if (c.secret !== undefined) expect(redacted).not.toContain(c.secret);
  });
});

#!/usr/bin/env node
/** The `tasker` command (package.json `bin`). See `tasker --help` and docs/operating.md. */
import { processOutput } from './output';
import { run } from './program';

run(process.argv.slice(2), processOutput()).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`tasker: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);

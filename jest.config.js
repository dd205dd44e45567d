/** @type {import('jest').Config} */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/__tests__'],
  testMatch: ['**/*.test.ts'],
  // End-to-end suites start real workers; give them room but never hang forever.
  testTimeout: 60000,
  // Applies whenever coverage is collected (`npm test` runs `jest --coverage`).
  // The CLI (src/cli) runs in child processes in its tests (__tests__/e2e/cli.test.ts), where
  // jest does not see its coverage.
  collectCoverageFrom: ['src/**/*.ts', '!src/index.ts', '!src/cli/**'],
  coverageThreshold: { global: { lines: 90, branches: 90 } },
};

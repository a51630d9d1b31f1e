import { defineConfig } from 'vitest/config';

// One project per package (`npx vitest run --project client`, `--project server`); `npm test`
// runs both. `unit` is the edit-and-test loop (`npm run test:unit`): the client's tests that need
// no build, solver, browser, database or server process, run from the sources in seconds.
const UNIT = [
  'test/unit-*.test.ts',
  'test/hostile-images.test.ts',
  'test/bad-input.test.ts',
  'test/batch-machine.test.ts',
  'test/cli-units.test.ts',
  'test/fits.test.ts',
  'test/inspect-stately.test.ts',
  'test/inspection.test.ts',
  'test/readme.test.ts',
  'test/session-key.test.ts',
  'test/solve-logic.test.ts',
  'test/transport-undici.test.ts',
];

export default defineConfig({
  test: {
    // The real solver and real sockets make some tests take seconds; none is timed.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: { name: 'client', include: ['test/**/*.test.ts'], setupFiles: ['test/setup-node-platform.ts'] },
      },
      {
        extends: true,
        test: { name: 'server', include: ['server/test/**/*.test.ts'] },
      },
      {
        extends: true,
        test: { name: 'unit', include: UNIT, setupFiles: ['test/setup-node-platform.ts'] },
      },
    ],
  },
});

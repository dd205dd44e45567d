/**
 * `npm run bench` options (bench/options.ts): defaults, --quick, --soak, and the messages of bad
 * input; and the jobs they plan (bench/bench.ts).
 */
import { planJobs } from '../../bench/bench';
import { parseArgs, rssCheckpoints, USAGE } from '../../bench/options';

describe('bench options', () => {
  test('defaults: every system and scenario, full counts, medians of 3', () => {
    const o = parseArgs([]);
    expect(o.systems).toEqual(['sqlite', 'postgres', 'graphile', 'graphile-batched', 'bullmq']);
    expect(o.scenarios).toEqual([
      'throughput',
      'limited',
      'chain',
      'fanout',
      'signal',
      'create',
      'rss',
      'commits',
    ]);
    expect(o).toMatchObject({
      repeat: 3,
      tasks: 20_000,
      concurrency: [10, 50],
      probeMs: 50,
      runs: 200,
      warmup: 20,
      createOne: 2_000,
      createBulk: 20_000,
      batch: 1_000,
      rssSteps: 100_000,
      out: undefined,
    });
    expect(rssCheckpoints(o)).toEqual([100_000]);
  });

  test('--only takes names and comma lists, repeatable; graphile means both configurations', () => {
    expect(parseArgs(['--only', 'bullmq,sqlite', '--only', 'graphile']).systems).toEqual([
      'sqlite',
      'graphile',
      'graphile-batched',
      'bullmq',
    ]);
    expect(parseArgs(['--only', 'graphile-batched']).systems).toEqual(['graphile-batched']);
  });

  test('--scenario selects scenarios', () => {
    expect(parseArgs(['--scenario', 'rss', '--scenario', 'chain,fanout']).scenarios).toEqual([
      'chain',
      'fanout',
      'rss',
    ]);
  });

  test('--quick shrinks the counts, explicit counts still win; --soak adds 10 × the RSS steps', () => {
    const o = parseArgs(['--quick', '--tasks', '123', '--soak', '--concurrency', '4,8']);
    expect(o).toMatchObject({ quick: true, soak: true, repeat: 1, tasks: 123, runs: 30 });
    expect(o.concurrency).toEqual([4, 8]);
    expect(rssCheckpoints(o)).toEqual([5_000, 50_000]);
    expect(rssCheckpoints(parseArgs(['--soak']))).toEqual([100_000, 1_000_000]);
    expect(parseArgs(['--warmup', '0', '--out', 'x.json'])).toMatchObject({
      warmup: 0,
      out: 'x.json',
    });
  });

  test.each([
    [
      ['--only', 'redis'],
      `--only: unknown system 'redis' (use sqlite, postgres, graphile or bullmq); ${USAGE}`,
    ],
    [
      ['--scenario', 'latency'],
      `--scenario: unknown scenario 'latency' (use throughput, limited, chain, fanout, signal, create, rss, commits); ${USAGE}`,
    ],
    [['--repeat', '0'], `--repeat must be an integer >= 1, got '0'; ${USAGE}`],
    [['--tasks', '1e3x'], `--tasks must be an integer >= 1, got '1e3x'; ${USAGE}`],
    [['--warmup', '-1'], `--warmup must be an integer >= 0, got '-1'; ${USAGE}`],
    [['--concurrency', '10,x'], `--concurrency must be an integer >= 1, got 'x'; ${USAGE}`],
    [['--runs'], `--runs must be an integer >= 1, got ''; ${USAGE}`],
    [['--only', '--quick'], `--only needs a value; ${USAGE}`],
    [['--out'], `--out needs a file name; ${USAGE}`],
    [['--fast'], `unknown argument '--fast'; ${USAGE}`],
  ])('%j is refused with a message naming the option', (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(message);
  });

  test('--quick plans the limited runs too: tasker-node only, beside each throughput run, limit half the slots', () => {
    const o = parseArgs(['--quick']);
    const plan = planJobs(o, o.systems)
      .filter((j) => j.scenario === 'throughput' || j.scenario === 'limited')
      .map((j) => [j.scenario, j.system, j.params]);
    const run = (concurrency: number) => ({ tasks: 2_000, concurrency, probeMs: 50 });
    const limited = (concurrency: number, limit: number) => ({ ...run(concurrency), limit });
    expect(plan).toEqual([
      ...o.systems.map((s) => ['throughput', s, run(10)]),
      ['limited', 'sqlite', limited(10, 5)],
      ['limited', 'postgres', limited(10, 5)],
      ...o.systems.map((s) => ['throughput', s, run(50)]),
      ['limited', 'sqlite', limited(50, 25)],
      ['limited', 'postgres', limited(50, 25)],
    ]);
    // A worker of one slot still gets a limit of one; the default run includes the scenario.
    const one = parseArgs([
      '--only',
      'sqlite',
      '--concurrency',
      '1',
      '--scenario',
      'limited',
      '--repeat',
      '1',
    ]);
    expect(planJobs(one, one.systems)).toEqual([
      { scenario: 'limited', system: 'sqlite', params: { ...run(1), tasks: 20_000, limit: 1 } },
    ]);
    expect(
      planJobs(parseArgs([]), ['sqlite']).filter((j) => j.scenario === 'limited'),
    ).toHaveLength(6);
  });
});

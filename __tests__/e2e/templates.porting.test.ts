/**
 * A template written for tasker-core loads here, and what loading it noticed reaches the user:
 * `validateTemplates()` returns the notices (one per file and key), `tasker validate` prints
 * them, and a worker logs each one as a `warn` line naming the file and the key. The mapped
 * keys mean what they say: `retry.limit: 2` gives the step two attempts.
 */
import { validateTemplates } from '../../src';
import {
  TestLogger,
  defineHandler,
  describeEachBackend,
  runTask,
  startWorker,
  stepOf,
  templateDir,
} from '../helpers/e2e';

const DIR = templateDir('tasker-core-ported');
const FILE = `${DIR}/ported.yaml`;
const NOTICES = [
  {
    file: FILE,
    field: 'loaded_from',
    message: `${FILE}: ignoring 'loaded_from' (tasker-core ignores it too)`,
  },
  {
    file: FILE,
    field: 'retry.limit',
    steps: ['flaky'],
    message: `${FILE}: reading 'retry.limit' in step 'flaky' as 'retry.max_attempts' (tasker-core's spelling)`,
  },
  {
    file: FILE,
    field: 'retry.initial_delay',
    steps: ['flaky'],
    message: `${FILE}: reading 'retry.initial_delay' in step 'flaky' as 'retry.backoff_base_ms': seconds, times 1000 (tasker-core's spelling)`,
  },
  {
    file: FILE,
    field: 'retry.max_delay',
    steps: ['flaky'],
    message: `${FILE}: reading 'retry.max_delay' in step 'flaky' as 'retry.max_backoff_ms': seconds, times 1000 (tasker-core's spelling)`,
  },
];

describe('a tasker-core template', () => {
  it('validates, with one notice per key', () => {
    expect(validateTemplates(DIR)).toEqual({
      files: [FILE],
      templates: [
        { namespace: 'porting', name: 'ported', version: '1.0.0', file: FILE, steps: ['flaky'] },
      ],
      errors: [],
      notices: NOTICES,
    });
  });
});

describeEachBackend('a tasker-core template in a worker', (backend) => {
  it('logs each notice as a warn line, and retry.limit counts the attempts', async () => {
    const flaky = defineHandler('Porting.Flaky', async () => {
      throw new Error('still failing');
    });
    const logger = new TestLogger();
    const worker = await startWorker({
      database: await backend.database(),
      templates: DIR,
      handlers: [flaky],
      logger,
    });

    const task = await runTask(worker.client, { namespace: 'porting', name: 'ported' });

    // `limit: 2` is `max_attempts: 2`: two attempts, then the step fails.
    expect(task.state).toBe('error');
    expect(stepOf(task, 'flaky').attempts).toBe(2);
    const told = logger.entries.filter((e) => e.message.includes('tasker-core'));
    expect(told).toEqual(
      NOTICES.map((n) => ({
        level: 'warn',
        message: `worker ${worker.workerId}: ${n.message}`,
        fields: { workerId: worker.workerId, file: n.file, field: n.field },
      })),
    );
  });
});

/**
 * Without `@opentelemetry/api` (an optional peer dependency; here its `require` throws, as it
 * does when the package is not installed), everything works and nothing is traced: no trace
 * context is stored with tasks, the core is not asked for outcomes, steps run as usual.
 */
jest.mock('@opentelemetry/api', () => {
  throw new Error("Cannot find module '@opentelemetry/api'");
});

import { openClient } from '../../src/client/create-client';
import { otelApi } from '../../src/telemetry/otel';
import { captureTraceContext } from '../../src/telemetry/trace-context';
import { WorkerTelemetry } from '../../src/telemetry/worker-telemetry';
import { resolveWorkerOptions } from '../../src/worker/options';
import { MockNativeModule, defineHandler, startWorker, stepEvent } from '../helpers/mock-native';

describe('without @opentelemetry/api', () => {
  it('loads nothing, and says so', () => {
    expect(() => require('@opentelemetry/api')).toThrow("Cannot find module '@opentelemetry/api'");
    expect(otelApi()).toBeUndefined();
    expect(captureTraceContext()).toBeUndefined();
    expect(
      WorkerTelemetry.create({
        workerId: 'w',
        stats: () => {
          throw new Error('not called');
        },
        readyBacklog: () => Promise.reject(new Error('not called')),
      }),
    ).toBeUndefined();
  });

  it('turns telemetry off, even when asked for', () => {
    const options = { templates: 't', handlers: [] };
    expect(resolveWorkerOptions(options).telemetry).toBe(false);
    expect(resolveWorkerOptions({ ...options, telemetry: true }).telemetry).toBe(false);
  });

  it('runs steps without asking the core for outcomes, and creates tasks without a trace context', async () => {
    const { worker, nativeWorker, logger } = await startWorker([
      defineHandler('h', (ctx) => ({ step: ctx.stepName })),
    ]);
    expect(nativeWorker.options.reportOutcomes).toBe(false);
    nativeWorker.push(stepEvent({ handler: 'h', stepName: 's' }));
    const [result] = await nativeWorker.waitForResults(1);
    expect(result).toMatchObject({ success: true, result: JSON.stringify({ step: 's' }) });
    await worker.shutdown();
    expect(logger.entries.filter((e) => e.level === 'error')).toEqual([]);

    const mock = new MockNativeModule();
    const client = await openClient(mock, { database: ':memory:' });
    await client.createTask({ namespace: 'n', name: 't' });
    expect(mock.engine.createTaskRequests[0]).not.toHaveProperty('traceContext');
  });
});

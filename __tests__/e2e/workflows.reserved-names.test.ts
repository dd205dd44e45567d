/**
 * Step names that are names of `Object.prototype` members (`__proto__`, `constructor`,
 * `toString`) are ordinary step names: a dependent sees each one's result through every
 * StepContext accessor, and `runWorkflow`-style results keyed by step name keep them all.
 */
import { runWorkflow } from '../../src/testing';
import {
  defineHandler,
  describeEachBackend,
  runTask,
  startWorker,
  stepOf,
  templateDir,
} from '../helpers/e2e';

const NAMES = ['__proto__', 'constructor', 'toString'];

const produce = defineHandler('Reserved.Produce', (ctx) => ({
  from: ctx.stepName,
  nested: { value: `${ctx.stepName}-value` },
}));

describeEachBackend('steps named like Object.prototype members', (backend) => {
  it('hands each result to the dependent through the StepContext API', async () => {
    const read = defineHandler('Reserved.Read', (ctx) => ({
      results: NAMES.map((name) => ctx.getDependencyResult(name)),
      fields: NAMES.map((name) => ctx.getDependencyField(name, 'nested', 'value')),
      keys: ctx.getDependencyResultKeys().sort(),
      all: ctx.getAllDependencyResults().length,
      own: NAMES.map((name) => Object.hasOwn(ctx.dependencyResults, name)),
      missing: ctx.getDependencyResult('hasOwnProperty'),
    }));
    const worker = await startWorker({
      database: await backend.database(),
      templates: 'reserved-names',
      handlers: [produce, read],
    });

    const task = await runTask(worker.client, { name: 'reserved_names' });

    expect(task.state).toBe('complete');
    expect(stepOf(task, 'reader').result).toEqual({
      results: NAMES.map((name) => ({ from: name, nested: { value: `${name}-value` } })),
      fields: NAMES.map((name) => `${name}-value`),
      keys: [...NAMES].sort(),
      all: 3,
      own: [true, true, true],
      missing: null,
    });
  });

  it('keeps every step in runWorkflow results', async () => {
    const run = await runWorkflow({
      templates: templateDir('reserved-names'),
      handlers: [produce, defineHandler('Reserved.Read', () => ({ read: true }))],
      namespace: 'e2e',
      name: 'reserved_names',
      database: await backend.database(),
    });

    expect(run.task.state).toBe('complete');
    expect(Object.keys(run.results).sort()).toEqual([...NAMES, 'reader'].sort());
    for (const name of NAMES) {
      expect(Object.hasOwn(run.results, name)).toBe(true);
      expect(run.results[name]).toEqual({ from: name, nested: { value: `${name}-value` } });
    }
  });
});

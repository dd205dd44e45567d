/**
 * What a step sees of the steps before it (docs/handlers.md, "Dependency results"): the results
 * of its dependencies (the steps it lists in `dependencies:`), not those of the steps further
 * upstream; reading such an ancestor fails the step with a message naming the fix.
 */
import { DecisionHandler, NotADependencyError, type StepContext } from '../../src/index';
import * as path from 'path';
import {
  defineHandler,
  describeEachBackend,
  runTask,
  startWorker,
  stepOf,
  templateDir,
} from '../helpers/e2e';

const MiB = 1024 * 1024;
const CHAIN = path.join(templateDir('dependency-results'), 'chain.yaml');
const DECISION = path.join(templateDir('dependency-results'), 'decision.yaml');

describeEachBackend('dependency results', (backend) => {
  it('a step reading its grandparent fails for good, naming the ancestor and the fix', async () => {
    const seen: string[] = [];
    const step = defineHandler('Chain.Step', (ctx) => {
      seen.push(ctx.stepName);
      if (ctx.stepName === 'c') return { a: ctx.getDependencyField('a', 'n') };
      return { n: seen.length };
    });
    const worker = await startWorker({
      database: await backend.database(),
      templates: CHAIN,
      handlers: [step],
      allowLoggedErrors: true,
    });

    const task = await runTask(worker.client, { name: 'dependency_chain' });

    expect(task.state).toBe('error');
    const c = stepOf(task, 'c');
    expect(c).toMatchObject({ state: 'error', attempts: 1, maxAttempts: 3 });
    expect(c.error).toMatchObject({
      message:
        "step 'c' reads the result of 'a', which is an ancestor but not one of its dependencies " +
        "(b): add 'a' to its dependencies to read it",
      errorType: 'not_a_dependency',
      retryable: false,
    });
    expect(seen).toEqual(['a', 'b', 'c']);
  });

  it('a 20 MB result goes to the step that depends on it, not to the steps after that', async () => {
    const blob = 'x'.repeat(20 * MiB);
    const keys: Record<string, string[]> = {};
    let bSawBlob = 0;
    const step = defineHandler('Chain.Step', (ctx) => {
      keys[ctx.stepName] = ctx.getDependencyResultKeys();
      if (ctx.stepName === 'a') return { blob };
      if (ctx.stepName === 'b') {
        bSawBlob = (ctx.getDependencyField('a', 'blob') as string).length;
      }
      return { step: ctx.stepName, all: ctx.getAllDependencyResults().length };
    });
    const worker = await startWorker({
      database: await backend.database(),
      templates: CHAIN,
      handlers: [step],
      maxResultBytes: 32 * MiB,
    });

    const task = await runTask(worker.client, { name: 'dependency_chain', timeoutMs: 60000 });

    expect(task.state).toBe('complete');
    expect(bSawBlob).toBe(20 * MiB);
    expect(keys).toEqual({ a: [], b: ['a'], c: ['b'], d: ['c'] });
    expect(stepOf(task, 'd').result).toEqual({ step: 'd', all: 1 });
  }, 90000);

  it('a decision convergence sees the branch that ran, null for the other, and is told the rest are ancestors', async () => {
    let converge: Record<string, unknown> = {};
    class Decide extends DecisionHandler {
      static override handlerName = 'DepDecision.Decide';
      async call() {
        return this.decisionSuccess(['branch_a']);
      }
    }
    const handlers = [
      defineHandler('DepDecision.Start', () => ({ started: true })),
      Decide,
      defineHandler('DepDecision.Branch', (ctx) => ({
        branch: ctx.stepName,
        keys: ctx.getDependencyResultKeys(),
      })),
      defineHandler('DepDecision.Converge', (ctx: StepContext) => {
        const refused = (name: string): string => {
          try {
            ctx.getDependencyResult(name);
            return 'no error';
          } catch (err) {
            expect(err).toBeInstanceOf(NotADependencyError);
            return (err as Error).message;
          }
        };
        converge = {
          keys: ctx.getDependencyResultKeys(),
          a: ctx.getDependencyResult('branch_a'),
          b: ctx.getDependencyResult('branch_b'),
          decide: refused('decide'),
          start: refused('start'),
        };
        return { done: true };
      }),
    ];
    const worker = await startWorker({
      database: await backend.database(),
      templates: DECISION,
      handlers,
    });

    const task = await runTask(worker.client, { name: 'dependency_decision' });

    expect(task.state).toBe('complete');
    expect(stepOf(task, 'branch_a').result).toEqual({ branch: 'branch_a', keys: ['decide'] });
    expect(converge).toEqual({
      keys: ['branch_a'],
      a: { branch: 'branch_a', keys: ['decide'] },
      b: null,
      decide:
        "step 'converge' reads the result of 'decide', which is an ancestor but not one of its " +
        "dependencies (branch_a, branch_b): add 'decide' to its dependencies to read it",
      start:
        "step 'converge' reads the result of 'start', which is an ancestor but not one of its " +
        "dependencies (branch_a, branch_b): add 'start' to its dependencies to read it",
    });
  });
});

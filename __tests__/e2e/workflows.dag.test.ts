/**
 * Workflows whose steps depend on each other: each step runs only after its dependencies, and
 * sees their results (not those of the steps before them) through `ctx.getDependencyResult`.
 */
import type { StepContext } from '../../src/index';
import {
  ExecutionLog,
  arrows,
  defineHandler,
  describeEachBackend,
  runTask,
  startWorker,
  stepHops,
  stepOf,
  taskHops,
} from '../helpers/e2e';

function valueOf(ctx: StepContext, step: string): number {
  const value = ctx.getDependencyField(step, 'value');
  if (typeof value !== 'number') {
    throw new Error(`step '${ctx.stepName}': no numeric result from '${step}' (got ${value})`);
  }
  return value;
}

describeEachBackend('DAG workflows', (backend) => {
  it('linear: four steps run in order, each adding to the previous result', async () => {
    const log = new ExecutionLog();
    const add = defineHandler('Linear.Add', (ctx) => {
      log.record(ctx);
      const previous = ctx.getConfig<string>('previous');
      const base = previous === undefined ? ctx.getInput<number>('start')! : valueOf(ctx, previous);
      return { value: base + ctx.getConfig<number>('add')! };
    });
    const worker = await startWorker({
      database: await backend.database(),
      templates: 'linear',
      handlers: [add],
    });

    const task = await runTask(worker.client, { name: 'linear', context: { start: 100 } });

    expect(task.state).toBe('complete');
    expect(task.completedAt).not.toBeNull();
    expect(task.steps.map((s) => [s.name, s.state, s.attempts, s.result])).toEqual([
      ['step_1', 'complete', 1, { value: 101 }],
      ['step_2', 'complete', 1, { value: 103 }],
      ['step_3', 'complete', 1, { value: 106 }],
      ['step_4', 'complete', 1, { value: 110 }],
    ]);
    expect(log.order()).toEqual(['step_1', 'step_2', 'step_3', 'step_4']);
    // Its dependency's result only, not those of the steps before it.
    expect(log.of('step_4')[0].dependencies).toEqual({ step_3: { value: 106 } });
    expect(log.of('step_1')[0].dependencies).toEqual({});

    expect(arrows(taskHops(task))).toEqual([
      '∅→pending',
      'pending→steps_in_process',
      'steps_in_process→complete',
    ]);
    expect(taskHops(task).at(-1)!.reason).toBe('all 4 steps complete');
    expect(stepHops(task, 'step_1')).toEqual([
      { from: null, to: 'pending', reason: null },
      { from: 'pending', to: 'enqueued', reason: 'no dependencies' },
      { from: 'enqueued', to: 'in_progress', reason: 'attempt 1 of 3' },
      {
        from: 'in_progress',
        to: 'complete',
        reason: expect.stringMatching(/^attempt 1 of 3 succeeded/),
      },
    ]);
    expect(stepHops(task, 'step_3')[1]).toEqual({
      from: 'pending',
      to: 'enqueued',
      reason: "dependencies complete (last: 'step_2')",
    });
  });

  it('diamond: both branches see the root, the join sees both branches', async () => {
    const log = new ExecutionLog();
    const handlers = [
      defineHandler('Diamond.Start', (ctx) => {
        log.record(ctx);
        const n = ctx.getInput<number>('n')!;
        return { value: n * n };
      }),
      defineHandler('Diamond.Left', (ctx) => {
        log.record(ctx);
        return { value: valueOf(ctx, 'start') + 1 };
      }),
      defineHandler('Diamond.Right', (ctx) => {
        log.record(ctx);
        return { value: valueOf(ctx, 'start') * 2 };
      }),
      defineHandler('Diamond.Finish', (ctx) => {
        log.record(ctx);
        return {
          value: valueOf(ctx, 'left') + valueOf(ctx, 'right'),
          seen: ctx.getDependencyResultKeys().sort(),
        };
      }),
    ];
    const worker = await startWorker({
      database: await backend.database(),
      templates: 'diamond',
      handlers,
    });

    const task = await runTask(worker.client, { name: 'diamond', context: { n: 3 } });

    expect(task.state).toBe('complete');
    const results = Object.fromEntries(task.steps.map((s) => [s.name, s.result]));
    expect(results).toEqual({
      start: { value: 9 },
      left: { value: 10 },
      right: { value: 18 },
      finish: { value: 28, seen: ['left', 'right'] },
    });
    expect(task.steps.every((s) => s.state === 'complete' && s.attempts === 1)).toBe(true);
    expect(log.all).toHaveLength(4);
    expect(log.order()[0]).toBe('start');
    expect(log.order()[3]).toBe('finish');
    // The join was enqueued by whichever branch completed last, never before both did.
    const finishEnqueued = stepHops(task, 'finish')[1];
    expect(finishEnqueued.to).toBe('enqueued');
    expect(finishEnqueued.reason).toMatch(/^dependencies complete \(last: '(left|right)'\)$/);
    const completedAt = (name: string): number =>
      task.transitions.findIndex(
        (t) => t.entity === 'step' && t.stepName === name && t.toState === 'complete',
      );
    const enqueuedAt = task.transitions.findIndex(
      (t) => t.entity === 'step' && t.stepName === 'finish' && t.toState === 'enqueued',
    );
    expect(enqueuedAt).toBeGreaterThan(completedAt('left'));
    expect(enqueuedAt).toBeGreaterThan(completedAt('right'));
  });

  it('tree: eight steps, the join waits for all four leaves', async () => {
    const log = new ExecutionLog();
    const node = defineHandler('Tree.Node', (ctx) => {
      log.record(ctx);
      const parent = ctx.getConfig<string>('parent');
      if (parent === undefined) return { value: ctx.getInput<number>('seed')! };
      return { value: valueOf(ctx, parent) * 10 + ctx.getConfig<number>('digit')! };
    });
    const join = defineHandler('Tree.Join', (ctx) => {
      log.record(ctx);
      const leaves = ['leaf_a1', 'leaf_a2', 'leaf_b1', 'leaf_b2'].map((l) => valueOf(ctx, l));
      return { leaves, sum: leaves.reduce((a, b) => a + b, 0) };
    });
    const worker = await startWorker({
      database: await backend.database(),
      templates: 'tree',
      handlers: [node, join],
      concurrency: 4,
    });

    const task = await runTask(worker.client, { name: 'tree', context: { seed: 1 } });

    expect(task.state).toBe('complete');
    expect(task.steps).toHaveLength(8);
    expect(stepOf(task, 'branch_b').result).toEqual({ value: 12 });
    expect(stepOf(task, 'leaf_a2').result).toEqual({ value: 112 });
    expect(stepOf(task, 'join').result).toEqual({ leaves: [111, 112, 121, 122], sum: 466 });
    expect(task.steps.every((s) => s.state === 'complete' && s.attempts === 1)).toBe(true);
    expect(log.all).toHaveLength(8);
    expect(log.order().at(-1)).toBe('join');
    // The join ran once, with its dependencies' results (the leaves), not the tree above them.
    expect(log.of('join')).toHaveLength(1);
    expect(Object.keys(log.of('join')[0].dependencies).sort()).toEqual([
      'leaf_a1',
      'leaf_a2',
      'leaf_b1',
      'leaf_b2',
    ]);
    // A leaf sees its parent only.
    expect(Object.keys(log.of('leaf_b1')[0].dependencies)).toEqual(['branch_b']);
    const joinEnqueued = stepHops(task, 'join')[1];
    expect(joinEnqueued.reason).toMatch(/^dependencies complete \(last: 'leaf_[ab][12]'\)$/);
    expect(taskHops(task).at(-1)).toEqual({
      from: 'steps_in_process',
      to: 'complete',
      reason: 'all 8 steps complete',
    });
  });
});

import { ClosedError, TaskTimeoutError, type StepContext } from '../../src/index';
import { runWorkflowWith } from '../../src/testing/run-workflow';
import type { NativeStepResult } from '../../src/native';
import {
  MockEngine,
  MockNativeModule,
  RecordingLogger,
  defineHandler,
  stepEvent,
} from '../helpers/mock-native';

/**
 * A toy orchestrator on the mock: each created task runs the given steps in order, one at a
 * time, and finishes as complete (all succeeded) or error (a step failed).
 */
function orchestrate(engine: MockEngine, steps: { name: string; handler: string }[]): void {
  engine.onTaskCreated = (view) => {
    const results: Record<string, unknown> = {};
    const stepViews: Record<string, unknown>[] = [];
    const runNext = (index: number) => {
      const step = steps[index];
      engine.worker.push(
        stepEvent({
          handler: step.handler,
          stepName: step.name,
          taskUuid: view.task_uuid,
          context: view.context,
          dependencyResults: { ...results },
        }),
      );
    };
    engine.worker.onComplete = (batch: NativeStepResult[]) => {
      for (const r of batch) {
        const step = steps[stepViews.length];
        const result = r.result === undefined ? null : (JSON.parse(r.result) as unknown);
        stepViews.push({
          step_uuid: r.stepUuid,
          name: step.name,
          state: r.success ? 'complete' : 'error',
          attempts: 1,
          max_attempts: 1,
          result,
          error: r.error
            ? {
                message: r.error.message,
                error_type: r.error.errorType,
                retryable: r.error.retryable,
              }
            : null,
          created_at: view.created_at,
          updated_at: view.created_at,
        });
        results[step.name] = result;
        const done = !r.success || stepViews.length === steps.length;
        engine.updateTask(view.task_uuid, {
          steps: [...stepViews],
          state: done ? (r.success ? 'complete' : 'error') : 'steps_in_process',
        });
        if (!done) runNext(stepViews.length);
      }
    };
    runNext(0);
  };
}

function mockWith(steps: { name: string; handler: string }[]): MockNativeModule {
  const mock = new MockNativeModule();
  mock.configureEngine = (engine) => orchestrate(engine, steps);
  return mock;
}

const double = defineHandler('math.double', (ctx: StepContext) => ({
  value: (ctx.getInput<number>('n') ?? 0) * 2,
}));
const addOne = defineHandler('math.add_one', (ctx: StepContext) => ({
  value: (ctx.getDependencyField('double', 'value') as number) + 1,
}));

describe('runWorkflow', () => {
  it('runs a task to completion and returns its results by step name', async () => {
    const mock = mockWith([
      { name: 'double', handler: 'math.double' },
      { name: 'add_one', handler: 'math.add_one' },
    ]);
    const run = await runWorkflowWith(mock, {
      templates: 'templates',
      handlers: [double, addOne],
      namespace: 'math',
      name: 'pipeline',
      context: { n: 5 },
      logger: new RecordingLogger(),
      maxBatchWorkers: 7,
    });
    expect(run.task.state).toBe('complete');
    expect(run.results).toEqual({ double: { value: 10 }, add_one: { value: 11 } });
    expect(run.step('add_one')?.state).toBe('complete');
    expect(run.step('nope')).toBeUndefined();
    expect(mock.engine.options).toStrictEqual({
      databaseUrl: 'sqlite::memory:',
      maxBatchWorkers: 7,
    });
    expect(mock.engine.createTaskRequests[0]).toMatchObject({
      namespace: 'math',
      name: 'pipeline',
      version: '1.0.0',
    });
    expect(mock.engine.worker.shutdownCalls).toHaveLength(1);
    expect(mock.engine.closeCalls).toBe(1);
  });

  it('returns a failed task with only the completed steps in results', async () => {
    const failing = defineHandler('math.add_one', () => {
      throw new Error('cannot add');
    });
    const mock = mockWith([
      { name: 'double', handler: 'math.double' },
      { name: 'add_one', handler: 'math.add_one' },
    ]);
    const run = await runWorkflowWith(mock, {
      templates: 'templates',
      handlers: [double, failing],
      namespace: 'math',
      name: 'pipeline',
      context: { n: 1 },
      logger: new RecordingLogger(),
    });
    expect(run.task.state).toBe('error');
    expect(run.results).toEqual({ double: { value: 2 } });
    expect(run.step('add_one')?.error).toEqual({
      message: 'cannot add',
      errorType: 'Error',
      retryable: true,
    });
  });

  it('shuts the worker down and says where the task stuck when it times out', async () => {
    const mock = new MockNativeModule(); // nothing ever runs the task
    const attempt = runWorkflowWith(mock, {
      templates: 'templates',
      handlers: [double],
      namespace: 'math',
      name: 'pipeline',
      timeoutMs: 20,
      logger: new RecordingLogger(),
    });
    await expect(attempt).rejects.toBeInstanceOf(TaskTimeoutError);
    await expect(attempt).rejects.toThrow(/is 'pending', steps: none$/);
    expect(mock.engine.worker.shutdownCalls).toHaveLength(1);
    expect(mock.engine.closeCalls).toBe(1);
  });

  it('shuts the worker down when creating the task fails', async () => {
    const mock = new MockNativeModule();
    mock.configureEngine = (engine) => {
      engine.createTaskError = new ClosedError('nope');
    };
    await expect(
      runWorkflowWith(mock, {
        templates: 'templates',
        handlers: [double],
        namespace: 'math',
        name: 'pipeline',
        logger: new RecordingLogger(),
      }),
    ).rejects.toBeInstanceOf(ClosedError);
    expect(mock.engine.worker.shutdownCalls).toHaveLength(1);
    expect(mock.engine.closeCalls).toBe(1);
  });
});

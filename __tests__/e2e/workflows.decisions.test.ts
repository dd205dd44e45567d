/**
 * Decision points end to end: a `decision` step's handler chooses which of its descendants the
 * task creates, and a `deferred_convergence` step waits only for the branches that were created.
 * Most tests run the example `approvals/approval_routing` workflow
 * (examples/templates/approval_routing.yaml) with its own handlers.
 */
import { approvalHandlers, FinalizeRequest } from '../../examples/handlers/approval';
import {
  DecisionHandler,
  runWorkflow,
  type StepContext,
  type StepHandlerClass,
  type Task,
} from '../../src/index';
import {
  ExecutionLog,
  TestLogger,
  arrows,
  defineHandler,
  describeEachBackend,
  eventually,
  exampleTemplate,
  runTask,
  startWorker,
  stepHops,
  stepOf,
  taskHops,
} from '../helpers/e2e';

const APPROVAL_TEMPLATE = exampleTemplate('approval_routing.yaml');

/** The example handlers, with `finalize` recording what it saw. */
function approvalHandlersRecording(log: ExecutionLog): StepHandlerClass[] {
  class RecordingFinalize extends FinalizeRequest {
    static override handlerName = FinalizeRequest.handlerName;
    override async call(ctx: StepContext) {
      log.record(ctx);
      return super.call(ctx);
    }
  }
  return approvalHandlers.map((h) => (h === FinalizeRequest ? RecordingFinalize : h));
}

function request(amount: number, extra: Record<string, unknown> = {}) {
  return { request_id: `R-${amount}`, requester: 'ada', amount, ...extra };
}

/** Where in the task's history `step` reached `state` (-1 if it never did). */
function reached(task: Task, step: string, state: string): number {
  return task.transitions.findIndex(
    (t) => t.entity === 'step' && t.stepName === step && t.toState === state,
  );
}

describeEachBackend('decision points', (backend) => {
  it('decision single branch: under the limit only auto_approve is created, and finalize waits for it alone', async () => {
    const logger = new TestLogger();
    // Through the testing helper: it starts a worker, runs the task, and shuts the worker down.
    const run = await runWorkflow({
      templates: APPROVAL_TEMPLATE,
      handlers: approvalHandlers,
      namespace: 'approvals',
      name: 'approval_routing',
      context: request(250),
      database: await backend.database(),
      logger,
    });
    const { task } = run;

    expect(task.state).toBe('complete');
    expect(logger.entries.filter((e) => e.level === 'error')).toEqual([]);
    // The branches not chosen were never created.
    expect(task.steps.map((s) => s.name).sort()).toEqual([
      'auto_approve',
      'finalize',
      'route',
      'validate',
    ]);
    expect(task.steps.every((s) => s.state === 'complete' && s.attempts === 1)).toBe(true);
    expect(run.results.route).toEqual({
      route: 'auto',
      amount: 250,
      limit: 1000,
      decision_point_outcome: { outcome_type: 'CreateSteps', step_names: ['auto_approve'] },
    });
    // The decision's handler and version are stored as the step's metadata.
    expect(run.step('route')!.metadata).toEqual({
      decision_handler: 'Approvals.Route',
      decision_version: '1.0.0',
    });
    expect(run.results.finalize).toEqual({
      request_id: 'R-250',
      status: 'approved',
      route: 'auto',
      approvals: [
        {
          step: 'auto_approve',
          approved: true,
          approver: 'system',
          reason: 'amount 250 is under the limit',
        },
      ],
    });
    // Created by the decision's outcome, after it completed; finalize enqueued by its one branch.
    expect(reached(task, 'auto_approve', 'pending')).toBeGreaterThan(
      reached(task, 'route', 'complete'),
    );
    expect(stepHops(task, 'finalize')[1]).toEqual({
      from: 'pending',
      to: 'enqueued',
      reason: "dependencies complete (last: 'auto_approve')",
    });
  });

  it('decision multi branch: at the limit manager_approval (a signal) and finance_review both complete before finalize', async () => {
    const log = new ExecutionLog();
    const worker = await startWorker({
      database: await backend.database(),
      templates: APPROVAL_TEMPLATE,
      handlers: approvalHandlersRecording(log),
      concurrency: 4,
    });

    const created = await worker.client.createTask({
      namespace: 'approvals',
      name: 'approval_routing',
      context: request(1000, { budget_remaining: 800 }),
    });
    // The manager's approval waits for the manager's signal.
    await eventually('manager_approval to wait for its signal', async () => {
      const t = await worker.client.getTask(created.taskUuid);
      return t?.steps.find((s) => s.name === 'manager_approval')?.state === 'waiting_for_signal';
    });
    const sent = await worker.client.sendSignal(created.taskUuid, 'manager_approval', {
      approved: true,
      approver: 'manager-of-ada',
      reason: 'within the manager limit of 25000',
    });
    expect(sent.applied).toBe(true);
    const task = await worker.client.waitForTask(created.taskUuid, { timeoutMs: 20000 });

    expect(task.state).toBe('complete');
    expect(arrows(stepHops(task, 'manager_approval'))).toEqual([
      '∅→pending',
      'pending→waiting_for_signal',
      'waiting_for_signal→complete',
    ]);
    expect(task.steps.map((s) => s.name).sort()).toEqual([
      'finalize',
      'finance_review',
      'manager_approval',
      'route',
      'validate',
    ]);
    expect(stepOf(task, 'route').result).toMatchObject({
      route: 'dual',
      decision_point_outcome: {
        outcome_type: 'CreateSteps',
        step_names: ['manager_approval', 'finance_review'],
      },
    });
    expect(stepOf(task, 'manager_approval').result).toEqual({
      approved: true,
      approver: 'manager-of-ada',
      reason: 'within the manager limit of 25000',
    });
    expect(stepOf(task, 'finance_review').result).toEqual({
      approved: false,
      approver: 'finance',
      reason: 'exceeds the remaining budget of 800',
    });
    expect(stepOf(task, 'finalize').result).toEqual({
      request_id: 'R-1000',
      status: 'rejected',
      route: 'dual',
      approvals: [
        { step: 'manager_approval', ...(stepOf(task, 'manager_approval').result as object) },
        { step: 'finance_review', ...(stepOf(task, 'finance_review').result as object) },
      ],
    });
    // finalize ran once, after both branches, seeing both (and validate and route, which it lists),
    // never auto_approve.
    expect(log.of('finalize')).toHaveLength(1);
    expect(Object.keys(log.of('finalize')[0].dependencies).sort()).toEqual([
      'finance_review',
      'manager_approval',
      'route',
      'validate',
    ]);
    const enqueued = reached(task, 'finalize', 'enqueued');
    expect(enqueued).toBeGreaterThan(reached(task, 'manager_approval', 'complete'));
    expect(enqueued).toBeGreaterThan(reached(task, 'finance_review', 'complete'));
    expect(stepHops(task, 'finalize')[1].reason).toMatch(
      /^dependencies complete \(last: '(manager_approval|finance_review)'\)$/,
    );
  });

  it('decision no branches: a pre-approved request creates no approval step and no finalize', async () => {
    const worker = await startWorker({
      database: await backend.database(),
      templates: APPROVAL_TEMPLATE,
      handlers: approvalHandlers,
    });

    const task = await runTask(worker.client, {
      namespace: 'approvals',
      name: 'approval_routing',
      context: request(50000, { preapproved_by: 'cfo' }),
    });

    expect(task.state).toBe('complete');
    expect(task.steps.map((s) => [s.name, s.state])).toEqual([
      ['validate', 'complete'],
      ['route', 'complete'],
    ]);
    expect(stepOf(task, 'route').result).toEqual({
      route: 'preapproved',
      preapproved_by: 'cfo',
      decision_point_outcome: { outcome_type: 'NoBranches', step_names: [] },
    });
    expect(arrows(taskHops(task))).toEqual([
      '∅→pending',
      'pending→steps_in_process',
      'steps_in_process→complete',
    ]);
    expect(taskHops(task).at(-1)!.reason).toBe('all 2 steps complete');
  });

  it('a validation failure before the decision fails the task; no branch is created', async () => {
    const worker = await startWorker({
      database: await backend.database(),
      templates: APPROVAL_TEMPLATE,
      handlers: approvalHandlers,
    });

    const task = await runTask(worker.client, {
      namespace: 'approvals',
      name: 'approval_routing',
      context: request(-5),
    });

    expect(task.state).toBe('error');
    expect(stepOf(task, 'validate').error).toEqual({
      message: 'amount must be a positive number, got -5',
      errorType: 'validation_error',
      retryable: false,
      stack: expect.stringMatching(/^ValidationError: amount must be a positive number, got -5\n/),
    });
    expect(stepOf(task, 'route')).toMatchObject({ state: 'cancelled', attempts: 0 });
    expect(task.steps.map((s) => s.name)).toEqual(['validate', 'route']);
  });

  describe('nested decision', () => {
    function nestedHandlers(log: ExecutionLog): StepHandlerClass[] {
      class ChooseRegion extends DecisionHandler {
        static override handlerName = 'Nested.ChooseRegion';
        async call(ctx: StepContext) {
          log.record(ctx);
          return this.decisionSuccess(ctx.getInput<string[]>('regions')!);
        }
      }
      class ChooseService extends DecisionHandler {
        static override handlerName = 'Nested.ChooseService';
        async call(ctx: StepContext) {
          log.record(ctx);
          return this.decisionSuccess(ctx.getInput<string>('service')!, { service_chosen: true });
        }
      }
      return [
        defineHandler('Nested.Start', (ctx) => {
          log.record(ctx);
          return { order: ctx.getInput<string>('order') };
        }),
        ChooseRegion,
        ChooseService,
        defineHandler('Nested.Leg', (ctx) => {
          log.record(ctx);
          return { leg: ctx.stepName };
        }),
        defineHandler('Nested.Ship', (ctx) => {
          log.record(ctx);
          return {
            legs: ctx.getAllDependencyResults().flatMap((r) => (r as { leg?: string }).leg ?? []),
          };
        }),
      ];
    }

    it('the inner decision creates its chosen branch and descendants; the convergence waits for them', async () => {
      const log = new ExecutionLog();
      const worker = await startWorker({
        database: await backend.database(),
        templates: 'nested-decision',
        handlers: nestedHandlers(log),
      });

      const task = await runTask(worker.client, {
        name: 'nested_decision',
        context: { order: 'N-1', regions: ['domestic'], service: 'express' },
      });

      expect(task.state).toBe('complete');
      expect(task.steps.map((s) => s.name).sort()).toEqual([
        'choose_region',
        'domestic',
        'express',
        'express_label',
        'ship',
        'start',
      ]);
      expect(task.steps.every((s) => s.state === 'complete' && s.attempts === 1)).toBe(true);
      // The outer decision created only the inner decision; the inner one created the rest.
      expect(reached(task, 'domestic', 'pending')).toBeGreaterThan(
        reached(task, 'choose_region', 'complete'),
      );
      for (const step of ['express', 'express_label', 'ship']) {
        expect(reached(task, step, 'pending')).toBeGreaterThan(
          reached(task, 'domestic', 'complete'),
        );
      }
      expect(stepOf(task, 'domestic').result).toEqual({
        service_chosen: true,
        decision_point_outcome: { outcome_type: 'CreateSteps', step_names: ['express'] },
      });
      // ship waited for the created leg's descendant and sees that dependency only, not the
      // chain above it (ancestors, not dependencies).
      expect(stepHops(task, 'ship')[1].reason).toBe(
        "dependencies complete (last: 'express_label')",
      );
      expect(log.of('ship')).toHaveLength(1);
      expect(Object.keys(log.of('ship')[0].dependencies)).toEqual(['express_label']);
      expect(stepOf(task, 'ship').result).toEqual({ legs: ['express_label'] });
      expect(log.order().at(-1)).toBe('ship');
    });

    // The outer decision creates `ship` waiting for `international` and for the undecided
    // nested decision `domestic`; `ground`, created later by `domestic`, is wired into `ship`.
    it('a convergence created by the outer decision also waits for a branch the inner decision creates later', async () => {
      const log = new ExecutionLog();
      const worker = await startWorker({
        database: await backend.database(),
        templates: 'nested-decision',
        handlers: nestedHandlers(log),
        concurrency: 4,
      });

      const task = await runTask(worker.client, {
        name: 'nested_decision',
        context: { order: 'N-2', regions: ['domestic', 'international'], service: 'ground' },
      });

      expect(task.state).toBe('complete');
      expect(task.steps.map((s) => s.name).sort()).toEqual([
        'choose_region',
        'domestic',
        'ground',
        'international',
        'ship',
        'start',
      ]);
      // ship converges on every leg that was created: international (chosen by the outer
      // decision) and ground (chosen by the inner one).
      expect(log.of('ship')).toHaveLength(1);
      expect(Object.keys(log.of('ship')[0].dependencies).sort()).toEqual([
        'ground',
        'international',
      ]);
      expect(reached(task, 'ship', 'enqueued')).toBeGreaterThan(
        reached(task, 'ground', 'complete'),
      );
    });
  });

  describe('invalid decision outcome', () => {
    it.each([
      ['a step upstream of the decision', 'start', 'which is not downstream of the decision'],
      [
        'a step that does not exist',
        'approve_everything',
        'which is not a step of template e2e/invalid_decision@1.0.0',
      ],
    ])(
      'naming %s fails the decision step permanently (invalid_decision_outcome) and the task',
      async (_label, chosen, why) => {
        const log = new ExecutionLog();
        class Route extends DecisionHandler {
          static override handlerName = 'InvalidDecision.Route';
          async call(ctx: StepContext) {
            log.record(ctx);
            return this.decisionSuccess(ctx.getInput<string>('choose')!);
          }
        }
        const other = (name: string) =>
          defineHandler(`InvalidDecision.${name}`, (ctx) => {
            log.record(ctx);
            return { ran: ctx.stepName };
          });
        const worker = await startWorker({
          database: await backend.database(),
          templates: 'invalid-decision',
          handlers: [other('Start'), Route, other('Approve'), other('Finish')],
        });

        const task = await runTask(worker.client, {
          name: 'invalid_decision',
          context: { choose: chosen },
        });

        const message = `decision step 'route' chose step '${chosen}', ${why}`;
        expect(task.state).toBe('error');
        expect(stepOf(task, 'route')).toMatchObject({
          state: 'error',
          attempts: 1,
          error: { message, errorType: 'invalid_decision_outcome', retryable: false },
        });
        // Nothing was created from the rejected outcome, and nothing else ran.
        expect(task.steps.map((s) => s.name)).toEqual(['start', 'route']);
        expect(log.order()).toEqual(['start', 'route']);
        expect(stepHops(task, 'route').at(-1)).toMatchObject({ from: 'in_progress', to: 'error' });
        expect(stepHops(task, 'route').at(-1)!.reason).toContain(
          `invalid_decision_outcome: ${message}`,
        );
        expect(taskHops(task).at(-1)).toEqual({
          from: 'steps_in_process',
          to: 'error',
          reason: `step 'route' failed permanently: ${message}`,
        });
      },
    );

    const at = "decision step 'route': decision_point_outcome";
    it.each<[string, Record<string, unknown>, string]>([
      [
        'whose type and outcome_type disagree',
        { type: 'no_branches', outcome_type: 'CreateSteps', step_names: ['approve'] },
        `${at}.type is "no_branches" but its outcome_type is "CreateSteps"; they must agree (set only one of them)`,
      ],
      [
        'NoBranches with step names',
        { outcome_type: 'NoBranches', step_names: ['approve'] },
        `${at}.step_names must be [] for NoBranches, got ["approve"]`,
      ],
      [
        'with a step name that is not a string',
        { outcome_type: 'CreateSteps', step_names: ['approve', 7] },
        `${at}.step_names[1] must be a non-empty string, got 7`,
      ],
      [
        'with an unknown field',
        { outcome_type: 'CreateSteps', step_names: ['approve'], steps: ['approve'] },
        `${at} has an unknown field 'steps'; its fields are outcome_type, type, step_names`,
      ],
    ])(
      'an outcome %s fails the decision step itself and creates no branch',
      async (_label, outcome, message) => {
        const log = new ExecutionLog();
        const handler = (name: string, result: () => Record<string, unknown>) =>
          defineHandler(`InvalidDecision.${name}`, (ctx) => {
            log.record(ctx);
            return result();
          });
        const worker = await startWorker({
          database: await backend.database(),
          templates: 'invalid-decision',
          handlers: [
            handler('Start', () => ({})),
            // A hand-written result: the builders cannot produce these outcomes.
            handler('Route', () => ({ decision_point_outcome: outcome })),
            handler('Approve', () => ({})),
            handler('Finish', () => ({})),
          ],
        });

        const task = await runTask(worker.client, { name: 'invalid_decision' });

        expect(task.state).toBe('error');
        expect(stepOf(task, 'route')).toMatchObject({
          state: 'error',
          attempts: 1,
          result: null,
          error: { message, errorType: 'invalid_decision_outcome', retryable: false },
        });
        expect(task.steps.map((s) => s.name)).toEqual(['start', 'route']);
        expect(log.order()).toEqual(['start', 'route']);
        expect(taskHops(task).at(-1)).toEqual({
          from: 'steps_in_process',
          to: 'error',
          reason: `step 'route' failed permanently: ${message}`,
        });
      },
    );
  });
});

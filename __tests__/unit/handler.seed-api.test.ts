/**
 * The handler API as the seed (and tasker-core's workers) has it, beside our statics: instance
 * getters `name`, `version`, `capabilities`; `ApiHandler.client`; the outcome-type enums.
 */
import nock from 'nock';
import {
  ApiHandler,
  BatchOutcomeType,
  BatchProcessingOutcome,
  Batchable,
  DecisionHandler,
  DecisionOutcomeType,
  DecisionPointOutcome,
  StepContext,
  StepHandler,
} from '../../src/index';
import { parsedOutcome, runHandler } from '../helpers/mock-native';

const API = 'https://seed-api.example.test';

beforeAll(() => {
  if (!nock.isActive()) nock.activate();
  nock.disableNetConnect();
});

afterEach(() => {
  const pending = nock.pendingMocks();
  nock.cleanAll();
  expect(pending).toEqual([]);
});

afterAll(() => {
  nock.enableNetConnect();
  nock.restore();
});

class Plain extends StepHandler {
  static override handlerName = 'Seed.Plain';
  static override version = '2.1.0';
  async call() {
    return { name: this.name, version: this.version, capabilities: this.capabilities };
  }
}

class Extended extends StepHandler {
  static override handlerName = 'Seed.Extended';
  override get capabilities(): readonly string[] {
    return [...super.capabilities, 'custom'];
  }
  async call() {
    return {};
  }
}

class Route extends DecisionHandler {
  static override handlerName = 'Seed.Route';
  override get version() {
    return '3.0.0';
  }
  async call() {
    return this.decisionSuccess(['a']);
  }
}

class Analyze extends Batchable(StepHandler) {
  static override handlerName = 'Seed.Analyze';
  async call() {
    return this.noBatchesOutcome('nothing');
  }
}

describe('instance getters', () => {
  it('read name, version and capabilities from the instance, defaulting to the statics', async () => {
    const { result } = await runHandler(Plain);
    expect(parsedOutcome(result).result).toEqual({
      name: 'Seed.Plain',
      version: '2.1.0',
      capabilities: ['process'],
    });
    expect(new Extended().capabilities).toEqual(['process', 'custom']);
    expect(new Extended().version).toBe('1.0.0');
    expect(new Route().capabilities).toEqual(DecisionHandler.capabilities);
    expect(new Analyze().capabilities).toEqual([
      'process',
      'batchable',
      'batch_processing',
      'parallel_execution',
      'cursor_based',
    ]);
    expect(new Analyze().name).toBe('Seed.Analyze');
  });

  it('a decision records the version its instance reports', async () => {
    const { result } = await runHandler(Route);
    expect(parsedOutcome(result).metadata).toMatchObject({
      decision_handler: 'Seed.Route',
      decision_version: '3.0.0',
    });
  });
});

describe('outcome type enums', () => {
  it('are run-time values equal to the wire strings', () => {
    expect(DecisionOutcomeType).toEqual({ CREATE_STEPS: 'CreateSteps', NO_BRANCHES: 'NoBranches' });
    expect(BatchOutcomeType).toEqual({ NO_BATCHES: 'NoBatches', CREATE_BATCHES: 'CreateBatches' });
    expect(Object.isFrozen(DecisionOutcomeType)).toBe(true);
    expect(DecisionPointOutcome.createSteps(['x']).outcomeType).toBe(
      DecisionOutcomeType.CREATE_STEPS,
    );
    expect(DecisionPointOutcome.noBranches().outcomeType).toBe(DecisionOutcomeType.NO_BRANCHES);
    expect(BatchProcessingOutcome.noBatches().outcomeType).toBe(BatchOutcomeType.NO_BATCHES);
  });
});

describe('ApiHandler.client', () => {
  class UseClient extends ApiHandler {
    static override handlerName = 'Seed.UseClient';
    async call(ctx: StepContext) {
      const res = await this.client.get(`/users/${ctx.getInput<number>('id')}`);
      return { status: res.status, user: res.data, same: this.client === this.client };
    }
  }

  it("is the step's configured axios instance: base URL, headers and auth", async () => {
    nock(API, { reqheaders: { 'x-client': 'seed', authorization: 'Bearer t0ken' } })
      .get('/v1/users/7')
      .query({ locale: 'en' })
      .reply(200, { id: 7, name: 'Ada' });
    const { result } = await runHandler(UseClient, {
      config: {
        base_url: `${API}/v1`,
        headers: { 'X-Client': 'seed' },
        params: { locale: 'en' },
        auth: { type: 'bearer', token: 't0ken' },
      },
      context: { id: 7 },
    });
    expect(parsedOutcome(result).result).toEqual({
      status: 200,
      user: { id: 7, name: 'Ada' },
      same: true,
    });
  });

  it('throws axios errors as they are (not classified): the step fails and is retried', async () => {
    nock(API).get('/users/8').reply(404, { error: 'no such user' });
    const { result } = await runHandler(UseClient, {
      config: { base_url: API },
      context: { id: 8 },
    });
    expect(result.success).toBe(false);
    expect(result.error).toMatchObject({ retryable: true });
    expect(result.error?.message).toContain('Request failed with status code 404');
  });

  it('says where it can be used when read outside a step', () => {
    expect(() => new UseClient().client).toThrow(
      "ApiHandler.client of 'Seed.UseClient' is available only while a worker runs the handler " +
        '(inside call()); outside one, use this.request(ctx, …) with a StepContext',
    );
  });
});

/**
 * The client's operator calls (`retryTask`, `resolveStep`, `prune`), typed here until they are
 * part of `TaskerClient` on this branch.
 */
import type { TaskerClient } from '../client/client';
import type { Task, TaskState } from '../client/task';
import { CliFailure } from './exit-codes';

export interface PruneOptions {
  olderThan: Date | string;
  states?: TaskState[];
}

export interface OperatorClient {
  retryTask(taskUuid: string): Promise<Task>;
  resolveStep(taskUuid: string, stepName: string, result: Record<string, unknown>): Promise<Task>;
  prune(options: PruneOptions): Promise<{ tasks: number }>;
}

export function operatorClient(client: TaskerClient): OperatorClient {
  const c = client as unknown as Partial<OperatorClient>;
  const need = (name: keyof OperatorClient) => {
    if (typeof c[name] !== 'function') {
      throw new CliFailure(`this version of tasker-node has no TaskerClient.${name}`);
    }
  };
  return {
    retryTask: (uuid) => (need('retryTask'), c.retryTask!.call(client, uuid)),
    resolveStep: (uuid, step, result) => (
      need('resolveStep'),
      c.resolveStep!.call(client, uuid, step, result)
    ),
    prune: (options) => (need('prune'), c.prune!.call(client, options)),
  };
}

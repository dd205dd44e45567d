/** Task states, as stored by the core. */
export type TaskState =
  'pending' | 'steps_in_process' | 'waiting_for_retry' | 'complete' | 'error' | 'cancelled';

/** Step states, as stored by the core. */
export type StepState =
  | 'pending'
  | 'enqueued'
  | 'in_progress'
  | 'waiting_for_retry'
  | 'complete'
  | 'error'
  | 'cancelled'
  /** Completed by an operator with `client.resolveStep()`; counts as done for its dependents. */
  | 'resolved_manually'
  /** A signal step whose dependencies are done: it completes when `client.sendSignal()` is called. */
  | 'waiting_for_signal'
  /**
   * A subtask step whose dependencies are done: its child task runs (see `Task.children`), and
   * the child's completion completes it (docs/child-tasks.md).
   */
  | 'waiting_for_child';

/** What `client.sendSignal()` did. */
export interface SignalResult {
  /**
   * `true`: the step was waiting and completed now (its dependents run). `false`: the step does
   * not wait yet (or its task is in error); the signal is kept and completes the step as soon as
   * it starts waiting.
   */
  applied: boolean;
  /** The step's state afterwards (`complete` when applied). */
  stepState: StepState;
  /** The task's state afterwards. */
  taskState: TaskState;
  /** When the signal was received (ISO-8601, database clock). */
  receivedAt: string;
}

/** A task and (from `getTask`/`waitForTask`) its steps and history. Plain data. */
export interface Task {
  taskUuid: string;
  namespace: string;
  name: string;
  version: string;
  state: TaskState;
  /** The task's input, with its keys exactly as given. */
  context: Record<string, unknown>;
  idempotencyKey: string | null;
  /** -1000..1000, higher first (docs/priorities.md); 0 unless `createTask` gave one. */
  priority: number;
  /** The one `createTask` gave, or a UUID v7 generated then (docs/task-metadata.md). */
  correlationId: string;
  parentCorrelationId: string | null;
  initiator: string | null;
  sourceSystem: string | null;
  reason: string | null;
  /** Distinct, in the order given; `[]` without any. */
  tags: string[];
  /** Set when the template dedupes tasks on their context (docs/identity.md). */
  identityHash: string | null;
  /** ISO-8601. */
  createdAt: string;
  updatedAt: string;
  completedAt: string | null;
  /** Empty when the view did not include steps (`listTasks`). */
  steps: TaskStep[];
  /** Empty when the view did not include transitions (`listTasks`). */
  transitions: Transition[];
  /**
   * A child task's parent task, and the subtask step of it that started this task (from
   * `getTask`/`waitForTask`); `null` for a task without a parent (and in `listTasks`).
   */
  parentTaskUuid: string | null;
  parentStepUuid: string | null;
  parentStepName: string | null;
  /** The child tasks its subtask steps started, oldest first (empty in `listTasks`). */
  children: ChildTask[];
}

/** One child task of a task (docs/child-tasks.md). */
export interface ChildTask {
  taskUuid: string;
  /** The subtask step that started it. */
  stepName: string;
  state: TaskState;
  /** ISO-8601. */
  createdAt: string;
}

export interface TaskStep {
  stepUuid: string;
  name: string;
  state: StepState;
  attempts: number;
  maxAttempts: number;
  /** The handler's result, with its keys exactly as returned; `null` until complete. */
  result: unknown;
  /** The last failure, if any. */
  error: TaskStepError | null;
  /**
   * Metadata the handler reported with its last result (e.g. an ApiHandler failure's URL, status
   * and response excerpt), keys as reported; `null` when there was none.
   */
  metadata: Record<string, unknown> | null;
  createdAt: string;
  updatedAt: string;
  /**
   * The names of the steps this one depends on (the task's edges into it, including those of
   * steps created by decisions and batches), in the order of `Task.steps`.
   */
  dependencies: string[];
  /**
   * The decision point or batchable step whose outcome created this step while the task ran;
   * `null` for the steps created with the task.
   */
  createdBy: string | null;
  /** Its task's priority. */
  priority: number;
  /**
   * The step's own inputs, beside the task's context: a batch worker's cursor range
   * (`{ cursor: { batch_id, start_cursor, end_cursor, … } }`), `{}` for most steps.
   */
  inputs: Record<string, unknown>;
  /** The checkpoint the step's last attempt saved (see checkpoints in docs/batch-processing.md), or `null`. */
  checkpoint: Record<string, unknown> | null;
  /** A subtask step's current (latest) child task; `null` for other steps and before it starts one. */
  childTaskUuid: string | null;
}

export interface TaskStepError {
  message: string;
  errorType: string;
  retryable: boolean;
  statusCode?: number;
  /** The handler's stack trace (at most 8 KiB of it), when it threw an error. */
  stack?: string;
}

/** One state change of the task or of one of its steps. */
export interface Transition {
  entity: 'task' | 'step';
  /** The step's name when `entity` is `step`. */
  stepName: string | null;
  fromState: string | null;
  toState: string;
  /** ISO-8601. */
  at: string;
  workerId: string | null;
  reason: string | null;
}

/** Every task state, in the order a task goes through them. */
export const TASK_STATES: readonly TaskState[] = [
  'pending',
  'steps_in_process',
  'waiting_for_retry',
  'complete',
  'error',
  'cancelled',
];

/** The states of a finished task (what `prune` may delete). */
export const FINISHED_TASK_STATES: readonly TaskState[] = ['complete', 'error', 'cancelled'];

/** States after which a task never changes again. */
export function isTaskFinished(state: TaskState): boolean {
  return state === 'complete' || state === 'error' || state === 'cancelled';
}

/** The task's step with that name, if the view includes it. */
export function stepByName(task: Task, name: string): TaskStep | undefined {
  return task.steps.find((step) => step.name === name);
}

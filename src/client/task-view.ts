import type {
  ChildTask,
  StepState,
  Task,
  TaskState,
  TaskStep,
  TaskStepError,
  Transition,
} from './task';

/**
 * Task views arrive from the core as snake_case JSON (see `NativeEngine` in native.ts). These
 * functions are the one place they are parsed and renamed to camelCase. Only the view's own
 * fields are renamed: `context` and `result` keep their keys exactly as stored.
 */
export function parseTaskView(json: string): Task {
  return toTask(JSON.parse(json) as TaskView);
}

export function parseTaskViews(json: string): Task[] {
  return (JSON.parse(json) as TaskView[]).map(toTask);
}

interface TaskView {
  task_uuid: string;
  namespace: string;
  name: string;
  version: string;
  state: TaskState;
  context: Record<string, unknown>;
  idempotency_key: string | null;
  priority?: number;
  correlation_id: string;
  parent_correlation_id?: string | null;
  initiator?: string | null;
  source_system?: string | null;
  reason?: string | null;
  tags?: string[];
  identity_hash?: string | null;
  created_at: string;
  updated_at: string;
  completed_at: string | null;
  steps?: StepView[];
  transitions?: TransitionView[];
  parent_task_uuid?: string;
  parent_step_uuid?: string;
  parent_step_name?: string;
  children?: ChildView[];
}

interface ChildView {
  task_uuid: string;
  step_name: string;
  state: TaskState;
  created_at: string;
}

interface StepView {
  step_uuid: string;
  name: string;
  state: StepState;
  attempts: number;
  max_attempts: number;
  result: unknown;
  error: {
    message: string;
    error_type: string;
    retryable: boolean;
    status_code?: number;
    stack?: string;
  } | null;
  metadata?: Record<string, unknown> | null;
  created_at: string;
  updated_at: string;
  dependencies?: string[];
  created_by?: string | null;
  priority?: number;
  inputs?: Record<string, unknown>;
  checkpoint?: Record<string, unknown> | null;
  child_task_uuid?: string;
}

interface TransitionView {
  entity: 'task' | 'step';
  step_name: string | null;
  from_state: string | null;
  to_state: string;
  at: string;
  worker_id: string | null;
  reason: string | null;
}

function toTask(view: TaskView): Task {
  return {
    taskUuid: view.task_uuid,
    namespace: view.namespace,
    name: view.name,
    version: view.version,
    state: view.state,
    context: view.context ?? {},
    idempotencyKey: view.idempotency_key ?? null,
    priority: view.priority ?? 0,
    correlationId: view.correlation_id,
    parentCorrelationId: view.parent_correlation_id ?? null,
    initiator: view.initiator ?? null,
    sourceSystem: view.source_system ?? null,
    reason: view.reason ?? null,
    tags: view.tags ?? [],
    identityHash: view.identity_hash ?? null,
    createdAt: view.created_at,
    updatedAt: view.updated_at,
    completedAt: view.completed_at ?? null,
    steps: (view.steps ?? []).map(toStep),
    transitions: (view.transitions ?? []).map(toTransition),
    parentTaskUuid: view.parent_task_uuid ?? null,
    parentStepUuid: view.parent_step_uuid ?? null,
    parentStepName: view.parent_step_name ?? null,
    children: (view.children ?? []).map(toChild),
  };
}

function toChild(view: ChildView): ChildTask {
  return {
    taskUuid: view.task_uuid,
    stepName: view.step_name,
    state: view.state,
    createdAt: view.created_at,
  };
}

function toStep(view: StepView): TaskStep {
  return {
    stepUuid: view.step_uuid,
    name: view.name,
    state: view.state,
    attempts: view.attempts,
    maxAttempts: view.max_attempts,
    result: view.result ?? null,
    error: view.error ? toStepError(view.error) : null,
    metadata: view.metadata ?? null,
    createdAt: view.created_at,
    updatedAt: view.updated_at,
    dependencies: view.dependencies ?? [],
    createdBy: view.created_by ?? null,
    priority: view.priority ?? 0,
    inputs: view.inputs ?? {},
    checkpoint: view.checkpoint ?? null,
    childTaskUuid: view.child_task_uuid ?? null,
  };
}

function toStepError(view: NonNullable<StepView['error']>): TaskStepError {
  const error: TaskStepError = {
    message: view.message,
    errorType: view.error_type,
    retryable: view.retryable,
  };
  if (view.status_code !== undefined && view.status_code !== null) {
    error.statusCode = view.status_code;
  }
  if (typeof view.stack === 'string') error.stack = view.stack;
  return error;
}

function toTransition(view: TransitionView): Transition {
  return {
    entity: view.entity,
    stepName: view.step_name ?? null,
    fromState: view.from_state ?? null,
    toState: view.to_state,
    at: view.at,
    workerId: view.worker_id ?? null,
    reason: view.reason ?? null,
  };
}

/**
 * The picture of a task for `tasker tasks show`: its steps in layers by depth (a step's depth is
 * one more than its deepest dependency), each with its state, attempts and duration and the
 * steps it waits for; then the errors of the failed steps.
 */
import type { Colors } from 'picocolors/types';
import type { Task, TaskStep } from '../client/task';
import { colorState, formatDuration, formatTime, pad, padStart, stateSymbol } from './output';

/** Step states after which a step does not run again (unless an operator retries its task). */
const FINISHED_STEP_STATES = new Set(['complete', 'error', 'cancelled', 'resolved_manually']);

export function isStepFinished(step: TaskStep): boolean {
  return FINISHED_STEP_STATES.has(step.state);
}

/** The names of the steps `step` depends on. */
export function dependenciesOf(step: TaskStep): string[] {
  return step.dependencies;
}

/** Each step's depth: 0 without dependencies, else one more than its deepest dependency. */
export function depths(task: Task): Map<string, number> {
  const byName = new Map(task.steps.map((s) => [s.name, s]));
  const depth = new Map<string, number>();
  const visiting = new Set<string>();
  const visit = (step: TaskStep): number => {
    const known = depth.get(step.name);
    if (known !== undefined) return known;
    if (visiting.has(step.name)) return 0; // not a DAG: never from the engine
    visiting.add(step.name);
    let d = 0;
    for (const name of dependenciesOf(step)) {
      const dep = byName.get(name);
      if (dep !== undefined) d = Math.max(d, visit(dep) + 1);
    }
    visiting.delete(step.name);
    depth.set(step.name, d);
    return d;
  };
  for (const step of task.steps) visit(step);
  return depth;
}

/**
 * How long the step took: from its first `in_progress` to the last time it left `in_progress`
 * for a finishing state (a step resolved by hand after it failed counts its run, not the wait
 * for the operator), or `null` if it never ran. A step still running counts up to `now`.
 */
export function stepDurationMs(task: Task, step: TaskStep, now = Date.now()): number | null {
  const hops = task.transitions.filter((t) => t.entity === 'step' && t.stepName === step.name);
  const start = hops.find((t) => t.toState === 'in_progress');
  if (start === undefined) return null;
  const startMs = Date.parse(start.at);
  const end = [...hops]
    .reverse()
    .find((t) => t.fromState === 'in_progress' && FINISHED_STEP_STATES.has(t.toState));
  if (step.state === 'in_progress') return now - startMs;
  return end === undefined ? null : Date.parse(end.at) - startMs;
}

/** `9 steps: 8 complete, 1 error`. */
export function stepCounts(task: Task): string {
  const counts = new Map<string, number>();
  for (const step of task.steps) counts.set(step.state, (counts.get(step.state) ?? 0) + 1);
  const parts = [...counts].map(([state, n]) => `${n} ${state}`);
  const total = `${task.steps.length} step${task.steps.length === 1 ? '' : 's'}`;
  return parts.length === 0 ? total : `${total}: ${parts.join(', ')}`;
}

export function taskTitle(c: Colors, task: Task): string {
  return (
    `${c.bold(`${task.namespace}/${task.name}@${task.version}`)}  ` +
    `${colorState(c, task.state)}  ${c.dim(task.taskUuid)}`
  );
}

/** The whole picture, as lines. */
export function renderTask(c: Colors, task: Task, now = Date.now()): string[] {
  const lines: string[] = [];
  lines.push(taskTitle(c, task));
  const times = [`created ${formatTime(task.createdAt)}`, `updated ${formatTime(task.updatedAt)}`];
  if (task.completedAt !== null) times.push(`finished ${formatTime(task.completedAt)}`);
  lines.push(c.dim(`${times.join(' · ')} (UTC)`));
  const why = endReason(task);
  if (why !== null) lines.push(`${task.state === 'error' ? 'failed' : 'cancelled'}: ${why}`);
  if (task.parentTaskUuid !== null) {
    lines.push(`child of ${task.parentTaskUuid} (step '${task.parentStepName ?? '?'}')`);
  }
  for (const child of task.children) {
    lines.push(
      `child task ${child.taskUuid} of step '${child.stepName}': ${colorState(c, child.state)}`,
    );
  }
  lines.push(stepCounts(task));
  if (task.steps.length === 0) return lines;
  lines.push('');
  lines.push(...renderDag(c, task, now));
  const failed = task.steps.filter((s) => s.error !== null && s.state !== 'complete');
  if (failed.length > 0) {
    lines.push('');
    lines.push(c.bold('Errors'));
    for (const step of failed) lines.push(...renderError(c, step));
  }
  return lines;
}

/**
 * Why a task in error or cancelled ended: the reason of its last transition (a step that failed,
 * a lifecycle limit, a cancel's reason); `null` for other states or when none was recorded.
 */
export function endReason(task: Task): string | null {
  if (task.state !== 'error' && task.state !== 'cancelled') return null;
  const last = task.transitions.filter((t) => t.entity === 'task').at(-1);
  return last?.reason ?? null;
}

/** The steps in layers by depth, each with the steps it waits for (`← a, b`). */
export function renderDag(c: Colors, task: Task, now = Date.now()): string[] {
  const depth = depths(task);
  const maxDepth = Math.max(0, ...depth.values());
  const layers: TaskStep[][] = Array.from({ length: maxDepth + 1 }, () => []);
  for (const step of task.steps) layers[depth.get(step.name) ?? 0]!.push(step);

  const rows = task.steps.map((step) => {
    const ms = stepDurationMs(task, step, now);
    return {
      step,
      attempts: `${step.attempts}/${step.maxAttempts}`,
      duration: ms === null ? '-' : formatDuration(ms),
    };
  });
  const row = new Map(rows.map((r) => [r.step.name, r]));
  const width = (f: (r: (typeof rows)[number]) => string) =>
    Math.max(...rows.map((r) => [...f(r)].length));
  const nameW = width((r) => r.step.name);
  const stateW = width((r) => r.step.state);
  const attemptsW = Math.max(
    'tries'.length,
    width((r) => r.attempts),
  );
  const durationW = width((r) => r.duration);
  const depthW = String(maxDepth).length;

  const lines: string[] = [];
  lines.push(
    c.dim(
      `${pad('', depthW)}  ${pad('  step', nameW + 2)}  ${pad('state', stateW)}  ` +
        `${pad('tries', attemptsW)}  ${padStart('time', durationW)}  ← depends on`,
    ),
  );
  layers.forEach((layer, d) => {
    if (d > 0) lines.push(`${pad('', depthW)}  ${c.dim('│')}`);
    layer.forEach((step, i) => {
      const r = row.get(step.name)!;
      const label = i === 0 ? padStart(String(d), depthW) : pad('', depthW);
      const deps = dependenciesOf(step);
      lines.push(
        `${c.dim(label)}  ${colorState(c, step.state, stateSymbol(step.state))} ` +
          `${pad(step.name, nameW)}  ${colorState(c, step.state, pad(step.state, stateW))}  ` +
          `${pad(r.attempts, attemptsW)}  ${padStart(r.duration, durationW)}` +
          (deps.length > 0 ? `  ${c.dim('←')} ${deps.join(', ')}` : ''),
      );
    });
  });
  return lines;
}

function renderError(c: Colors, step: TaskStep): string[] {
  const error = step.error!;
  const stack = (error as { stack?: unknown }).stack;
  const facts = [`attempt ${step.attempts} of ${step.maxAttempts}`, error.errorType];
  if (error.statusCode !== undefined) facts.push(`HTTP ${error.statusCode}`);
  if (step.state !== 'error') facts.push(`now ${step.state}`);
  const lines = [
    `  ${c.red(stateSymbol('error'))} ${c.bold(step.name)} ${c.dim(`(${facts.join(', ')})`)}`,
    `    ${error.message}`,
  ];
  if (typeof stack === 'string' && stack.trim() !== '') {
    for (const line of stack.split('\n')) {
      // The stack's first line repeats the message.
      if (line.trim() === '' || line.includes(error.message)) continue;
      lines.push(c.dim(`      ${line.trim()}`));
    }
  }
  return lines;
}

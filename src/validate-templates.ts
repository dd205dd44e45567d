import { InvalidArgumentError } from './errors/invalid-argument-error';
import { native, type NativeModule } from './native';

/** One problem found in the templates. */
export interface TemplateProblem {
  /** The file it is in; absent when it is about no one file (no templates found at all). */
  file?: string;
  /** The step's name (or `#3`, the third step, when it has no usable name). */
  step?: string;
  /** The field, e.g. `retry.max_attempts`. */
  field?: string;
  /** The whole message, naming the file, step and field: what a worker would refuse to start with. */
  message: string;
}

/**
 * Something a template that loads says its author should know: a key of tasker-core templates
 * that is ignored (tasker-core ignores it too) or read under our name (`retry.limit` as
 * `retry.max_attempts`). One per file and key; see docs/templates.md, "Porting tasker-core
 * templates". A worker logs each one as a `warn` line.
 */
export interface TemplateNotice {
  file: string;
  /** The key, with its block: `loaded_from`, `lifecycle`, `retry.limit`. */
  field: string;
  /** The steps it is in, in template order (absent for a top-level key). */
  steps?: string[];
  /** The whole line, naming the file, the key and the steps. */
  message: string;
}

/** A template that is valid. */
export interface ValidTemplate {
  namespace: string;
  name: string;
  version: string;
  file: string;
  /** Its step names, in template order. */
  steps: string[];
}

export interface TemplateValidation {
  /** Every template file read (directories contribute their `*.yaml` / `*.yml` files). */
  files: string[];
  templates: ValidTemplate[];
  /** Every problem found: empty when all templates are valid. */
  errors: TemplateProblem[];
  /** The notices of the valid templates (they load; nothing to fix, but worth knowing). */
  notices: TemplateNotice[];
}

/**
 * Check templates (files, or directories of `*.yaml` / `*.yml`) without a database or handlers,
 * finding every problem rather than stopping at the first: each file is checked, and within a
 * file each step and field. Never throws for a template problem (they are in `errors`).
 */
export function validateTemplates(paths: string | string[]): TemplateValidation {
  return checkTemplates(native(), paths);
}

/** @internal `validateTemplates` against a given native module. */
export function checkTemplates(
  nativeModule: NativeModule,
  paths: string | string[],
): TemplateValidation {
  const list = typeof paths === 'string' ? [paths] : paths;
  if (!Array.isArray(list) || list.some((p) => typeof p !== 'string' || p === '')) {
    throw new InvalidArgumentError(
      'validateTemplates: expected a template file or directory path, or an array of them',
    );
  }
  const report = JSON.parse(nativeModule.validateTemplates(list)) as NativeReport;
  return {
    files: report.files,
    templates: report.templates.map((t) => ({
      namespace: t.namespace_name,
      name: t.name,
      version: t.version,
      file: t.source,
      steps: t.steps.map((s) => s.name),
    })),
    errors: report.errors.map((e) => {
      const problem: TemplateProblem = { message: e.message };
      if (e.file != null) problem.file = e.file;
      if (e.step != null) problem.step = e.step;
      if (e.field != null) problem.field = e.field;
      return problem;
    }),
    notices: report.notices.map((n) => {
      const notice: TemplateNotice = { file: n.file, field: n.field, message: n.message };
      if (n.steps != null && n.steps.length > 0) notice.steps = n.steps;
      return notice;
    }),
  };
}

interface NativeReport {
  files: string[];
  templates: {
    namespace_name: string;
    name: string;
    version: string;
    source: string;
    steps: { name: string }[];
  }[];
  errors: { file?: string | null; step?: string | null; field?: string | null; message: string }[];
  notices: { file: string; field: string; steps?: string[] | null; message: string }[];
}

/**
 * The addon's generated declarations (`index.d.ts`, written by `napi build --dts`): a snapshot
 * guards against unnoticed changes, and compile-time checks (ts-jest type-checks this file, and
 * so does `npm run typecheck`) guard that they stay compatible with the hand-written interfaces
 * of src/native.ts that the TypeScript package programs against.
 */
import * as fs from 'fs';
import * as path from 'path';
import type * as Generated from '../../index';
import type * as Native from '../../src/native';
import { REPO_ROOT } from '../helpers/e2e';

// ---- Compile-time checks: these declarations fail to compile if the two sides drift apart.

// What the addon is and returns must be usable as what src/native.ts declares…
const generatedModule: Native.NativeModule = {} as typeof Generated;
// (Checked class by class and object by object too: TypeScript is not always as thorough with
// the whole-module comparison above, and a named failure is easier to read.)
const generatedEngine: Native.NativeEngine = {} as Generated.NativeEngine;
const generatedWorker: Native.NativeWorker = {} as Generated.NativeWorker;
const generatedEvent: Native.NativeStepEvent = {} as Generated.StepEvent;
const generatedStats: Native.NativeWorkerStats = {} as Generated.WorkerStatsView;
// …and what src/native.ts passes in must be accepted by the addon.
const engineOptions: Generated.EngineOptions = {} as Native.NativeEngineOptions;
const workerOptions: Generated.WorkerOptions = {} as Native.NativeWorkerOptions;
const stepResult: Generated.StepResultInput = {} as Native.NativeStepResult;
const createRequest: Generated.CreateTaskRequest = {} as Native.NativeCreateTaskRequest;
const listFilter: Generated.ListTasksFilter = {} as Native.NativeListTasksFilter;

const compileTimeChecks = [
  generatedModule,
  generatedEngine,
  generatedWorker,
  generatedEvent,
  generatedStats,
  engineOptions,
  workerOptions,
  stepResult,
  createRequest,
  listFilter,
];

describe('generated index.d.ts', () => {
  const dts = fs.readFileSync(path.join(REPO_ROOT, 'index.d.ts'), 'utf8');

  it('matches the committed snapshot', () => {
    expect(dts).toMatchSnapshot();
  });

  it('is compatible with the NativeModule interfaces (checked at compile time)', () => {
    expect(compileTimeChecks).toHaveLength(10);
  });

  it('declares the functions the real addon exports', () => {
    const addon = require(path.join(REPO_ROOT, 'index.js')) as Record<string, unknown>;
    const exported = Object.keys(addon)
      .filter((k) => typeof addon[k] === 'function')
      .sort();
    const declared = [...dts.matchAll(/^export declare (?:function|class) (\w+)/gm)]
      .map((m) => m[1])
      .sort();
    expect(exported).toEqual(declared);
    expect(declared).toEqual(
      expect.arrayContaining(['NativeEngine', 'NativeWorker', 'openEngine', 'validateTemplates']),
    );
  });
});

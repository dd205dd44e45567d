import type {
  NativeCreateTaskRequest,
  NativeEngine,
  NativeEngineOptions,
  NativeHealth,
  NativeListTasksFilter,
  NativeModule,
  NativeScheduleInfo,
  NativeWorkerOptions,
} from '../native';
import { callNative } from './call-native';
import { WorkerHandle } from './worker-handle';

/** The native engine with every call routed through `fromNativeError`. Decides nothing. */
export class EngineHandle {
  constructor(private readonly inner: NativeEngine) {}

  static async open(
    nativeModule: NativeModule,
    options: NativeEngineOptions,
  ): Promise<EngineHandle> {
    const engine = await callNative(() => nativeModule.openEngine(options));
    return new EngineHandle(engine);
  }

  createTask(request: NativeCreateTaskRequest): Promise<string> {
    return callNative(() => this.inner.createTask(request));
  }

  createTasks(requests: NativeCreateTaskRequest[]): Promise<string> {
    return callNative(() => this.inner.createTasks(requests));
  }

  getTask(taskUuid: string): Promise<string | null> {
    return callNative(() => this.inner.getTask(taskUuid));
  }

  listTasks(filter: NativeListTasksFilter): Promise<string> {
    return callNative(() => this.inner.listTasks(filter));
  }

  countTasks(filter: NativeListTasksFilter, max?: number): Promise<string> {
    return callNative(() => this.inner.countTasks(filter, max));
  }

  stepActivity(minutes: number): Promise<string> {
    return callNative(() => this.inner.stepActivity(minutes));
  }

  deleteSchedule(name: string): Promise<boolean> {
    return callNative(() => this.inner.deleteSchedule(name));
  }

  listSchedules(): Promise<NativeScheduleInfo[]> {
    return callNative(() => this.inner.listSchedules());
  }

  cancelTask(taskUuid: string, reason?: string): Promise<string> {
    return callNative(() => this.inner.cancelTask(taskUuid, reason));
  }

  retryTask(taskUuid: string): Promise<string> {
    return callNative(() => this.inner.retryTask(taskUuid));
  }

  resolveStep(
    taskUuid: string,
    stepName: string,
    result: string,
    reason?: string,
  ): Promise<string> {
    return callNative(() => this.inner.resolveStep(taskUuid, stepName, result, reason));
  }

  sendSignal(taskUuid: string, stepName: string, payload: string): Promise<string> {
    return callNative(() => this.inner.sendSignal(taskUuid, stepName, payload));
  }

  prune(olderThanMs: number, states: string[]): Promise<number> {
    return callNative(() => this.inner.prune(olderThanMs, states));
  }

  waitForTask(taskUuid: string, timeoutMs: number): Promise<string> {
    return callNative(() => this.inner.waitForTask(taskUuid, timeoutMs));
  }

  async createWorker(options: NativeWorkerOptions): Promise<WorkerHandle> {
    const worker = await callNative(() => this.inner.createWorker(options));
    return new WorkerHandle(worker);
  }

  close(): Promise<void> {
    return callNative(() => this.inner.close());
  }

  health(): Promise<NativeHealth> {
    return callNative(() => this.inner.health());
  }
}

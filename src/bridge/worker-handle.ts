import type {
  NativeReadyBacklog,
  NativeStepEvent,
  NativeStepResult,
  NativeWorker,
  NativeWorkerStats,
} from '../native';
import { callNative, callNativeSync } from './call-native';

/** The native worker with every call routed through `fromNativeError`. Decides nothing. */
export class WorkerHandle {
  constructor(private readonly inner: NativeWorker) {}

  get workerId(): string {
    return this.inner.workerId;
  }

  start(): Promise<void> {
    return callNative(() => this.inner.start());
  }

  poll(): Promise<NativeStepEvent[] | null> {
    return callNative(() => this.inner.poll());
  }

  complete(results: NativeStepResult[]): void {
    callNativeSync(() => this.inner.complete(results));
  }

  stats(): NativeWorkerStats {
    return callNativeSync(() => this.inner.stats());
  }

  checkpoint(stepUuid: string, claimId: string, checkpoint: string): Promise<boolean> {
    return callNative(() => this.inner.checkpoint(stepUuid, claimId, checkpoint));
  }

  shutdown(graceMs: number): Promise<void> {
    return callNative(() => this.inner.shutdown(graceMs));
  }

  readyBacklog(): Promise<NativeReadyBacklog> {
    return callNative(() => this.inner.readyBacklog());
  }
}

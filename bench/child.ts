/**
 * One benchmark job in its own process, so that one system's GC, JIT and connection state do
 * not perturb another's figures. Forked by bench.ts: receives `{ type: 'job', job }`, answers
 * `{ type: 'result', result }` or `{ type: 'error', message }` and exits. RSS jobs also send
 * `ready` and `progress` messages for the parent's feeder.
 */
import type { ChildMessage, Job, JobResult, ParentMessage } from './protocol';
import * as bullmq from './systems/bullmq';
import * as graphile from './systems/graphile';
import type { RssReporter } from './systems/rss';
import * as tasker from './systems/tasker';

function send(message: ChildMessage): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined) {
      console.log(JSON.stringify(message));
      resolve();
    } else {
      process.send(message, undefined, {}, () => resolve());
    }
  });
}

const reporter: RssReporter = {
  ready: () => void send({ type: 'ready' }),
  progress: (done) => void send({ type: 'progress', done }),
};

export async function runJob(job: Job, report: RssReporter = reporter): Promise<JobResult> {
  const { system, resource } = job;
  if (system === 'sqlite' || system === 'postgres') {
    switch (job.scenario) {
      case 'throughput':
        return tasker.throughput(resource, job.params);
      case 'limited':
        return tasker.limited(resource, job.params);
      case 'chain':
        return tasker.chain(resource, job.params);
      case 'fanout':
        return tasker.fanout(resource, job.params);
      case 'signal':
        return tasker.signal(resource, job.params);
      case 'create':
        return tasker.create(resource, job.params);
      case 'rss':
        return tasker.rss(resource, job.params, report);
    }
  }
  if (system === 'graphile' || system === 'graphile-batched') {
    const config = graphile.configOf(system);
    switch (job.scenario) {
      case 'throughput':
        return graphile.throughput(resource, config, job.params);
      case 'limited':
        throw new Error('the limited scenario runs on tasker-node only');
      case 'chain':
        return graphile.chain(resource, config, job.params);
      case 'fanout':
        return graphile.fanout(resource, config, job.params);
      case 'signal':
        throw new Error('graphile-worker has no signal steps');
      case 'create':
        return graphile.create(resource, job.params);
      case 'rss':
        return graphile.rss(resource, config, job.params, report);
    }
  }
  switch (job.scenario) {
    case 'throughput':
      return bullmq.throughput(resource, job.params);
    case 'limited':
      throw new Error('the limited scenario runs on tasker-node only');
    case 'chain':
      return bullmq.chain(resource, job.params);
    case 'fanout':
      return bullmq.fanout(resource, job.params);
    case 'signal':
      throw new Error('BullMQ has no signal steps');
    case 'create':
      return bullmq.create(resource, job.params);
    case 'rss':
      return bullmq.rss(resource, job.params, report);
  }
}

if (require.main === module) {
  process.once('message', (message: ParentMessage) => {
    runJob(message.job)
      .then((result) => send({ type: 'result', result }))
      .catch((err: unknown) =>
        send({ type: 'error', message: err instanceof Error ? err.message : String(err) }),
      )
      // Some clients keep timers or sockets open after close(); the job is over.
      .finally(() => process.exit(0));
  });
}

/**
 * One request run to its end synchronously on a scheduler of its own: what the model worker did before
 * continuous batching, kept for in-process tests of the intake checks, cancellation and streaming. The server's
 * worker (worker.ts) runs a shared Scheduler instead.
 */
import type { FromWorker, JobMessage } from './protocol.js';
import { Scheduler } from './scheduler.js';
import type { WorkerContext } from './scheduler_intake.js';

export { pendingStopPrefix, samplingFor, type WorkerContext } from './scheduler_intake.js';

/** Runs one job to its end, posting everything it produces. `cancelled()` is polled before every step. */
export function runJob(ctx: WorkerContext, job: JobMessage, post: (m: FromWorker) => void, cancelled: () => boolean): void {
  const s = new Scheduler(ctx, post);
  s.submit(job);
  while (!s.idle) {
    if (cancelled()) s.cancel(job.id);
    s.step();
  }
}

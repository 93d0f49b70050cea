/**
 * The model worker thread (node:worker_threads) behind `opshift serve`: it owns the model, the tokenizer and the
 * continuous-batching scheduler (scheduler.ts), so the HTTP thread never blocks on model work. A job message is
 * taken in at once (template, tokenization, checks, a KV cache) and joins the batch; the scheduler then runs one
 * step per turn of this thread's event loop, so new jobs and cancels land between steps. Started by
 * model_worker.ts from the build (dist/tools/serve/worker.js).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { parsePolicy } from '../../core/policy_spec.js';
import { defaultPolicy } from '../default_policy.js';
import { loadModel } from '../../models/load.js';
import { loadTokenizer, tokenizerFiles } from '../../models/tokenizer.js';
import type { FromWorker, ToWorker, WorkerInit } from './protocol.js';
import { quantizeAtLoad } from './load_quant.js';
import { Scheduler } from './scheduler.js';
import { setThreads } from '../threads.js';

if (!parentPort) throw new Error('tools/serve/worker.js is a worker thread entry point; start it with model_worker.ts');
const port = parentPort;
const init = workerData as WorkerInit;
const post = (m: FromWorker) => port.postMessage(m);

let scheduler: Scheduler | undefined;
try {
  const t0 = performance.now();
  if (init.threads !== undefined) setThreads(init.threads);
  const model = loadModel(init.modelLoad);
  const quantizedLinears = init.quant ? quantizeAtLoad(model, init.quant) : 0;
  const tokenizer = init.tokenizerDir !== undefined && tokenizerFiles(init.tokenizerDir) !== undefined ? loadTokenizer(init.tokenizerDir) : undefined;
  scheduler = new Scheduler(
    {
      model,
      tokenizer,
      policy: init.dispatch ? parsePolicy(init.dispatch) : defaultPolicy(),
      prefillChunk: init.prefillChunk,
      templateTimeoutMs: init.templateTimeoutMs,
      templateMaxBytes: init.templateMaxBytes,
      kvCacheMb: init.kvCacheMb,
    },
    post,
  );
  post({
    type: 'ready',
    info: {
      modelType: model.config.modelType,
      maxPositions: model.config.maxPositions,
      vocabSize: model.config.vocabSize,
      hasTokenizer: tokenizer !== undefined,
      hasChatTemplate: tokenizer?.chatTemplate !== undefined,
      loadMs: performance.now() - t0,
      kvCacheBytes: scheduler.pool.budget,
      quant: init.quant ? { format: init.quant, linears: quantizedLinears } : undefined,
    },
  });
} catch (e) {
  post({ type: 'fatal', message: (e as Error).message });
}

let scheduled = false;
/** One step per event-loop turn (setImmediate runs after pending messages), until nothing runs. */
function kick(): void {
  if (scheduled || !scheduler || scheduler.idle) return;
  scheduled = true;
  setImmediate(() => {
    scheduled = false;
    scheduler!.step();
    kick();
  });
}

port.on('message', (m: ToWorker) => {
  if (!scheduler) return;
  if (m.type === 'job') scheduler.submit(m);
  else if (m.type === 'cancel') scheduler.cancel(m.id);
  kick();
});

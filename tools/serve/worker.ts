/**
 * The model worker thread (node:worker_threads) behind `opshift serve`: it owns the model, the tokenizer and
 * generation, so the HTTP thread never blocks on model work. It runs one job at a time, synchronously; a
 * cancel arrives through a SharedArrayBuffer slot it reads between prefill chunks and tokens, so no yielding
 * is needed for a cancel to land. Started by model_worker.ts from the build (dist/tools/serve/worker.js).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { parsePolicy } from '../../core/policy_spec.js';
import { defaultPolicy } from '../default_policy.js';
import { loadModel } from '../../models/load.js';
import { loadTokenizer, tokenizerFiles } from '../../models/tokenizer.js';
import type { FromWorker, ToWorker, WorkerInit } from './protocol.js';
import { runJob, type WorkerContext } from './worker_job.js';
import { setThreads } from '../threads.js';

if (!parentPort) throw new Error('tools/serve/worker.js is a worker thread entry point; start it with model_worker.ts');
const port = parentPort;
const init = workerData as WorkerInit;
const post = (m: FromWorker) => port.postMessage(m);
const cancelSlot = new Int32Array(init.cancel);

let ctx: WorkerContext | undefined;
try {
  const t0 = performance.now();
  if (init.threads !== undefined) setThreads(init.threads);
  const model = loadModel(init.modelLoad);
  const tokenizer = init.tokenizerDir !== undefined && tokenizerFiles(init.tokenizerDir) !== undefined ? loadTokenizer(init.tokenizerDir) : undefined;
  ctx = {
    model,
    tokenizer,
    policy: init.dispatch ? parsePolicy(init.dispatch) : defaultPolicy(),
    prefillChunk: init.prefillChunk,
    templateTimeoutMs: init.templateTimeoutMs,
    templateMaxBytes: init.templateMaxBytes,
  };
  post({
    type: 'ready',
    info: {
      modelType: model.config.modelType,
      maxPositions: model.config.maxPositions,
      vocabSize: model.config.vocabSize,
      hasTokenizer: tokenizer !== undefined,
      hasChatTemplate: tokenizer?.chatTemplate !== undefined,
      loadMs: performance.now() - t0,
    },
  });
} catch (e) {
  post({ type: 'fatal', message: (e as Error).message });
}

port.on('message', (m: ToWorker) => {
  if (!ctx || m.type !== 'job') return;
  runJob(ctx, m, post, () => Atomics.load(cancelSlot, 0) === m.id);
});

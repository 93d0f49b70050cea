/**
 * One opshift configuration of `bench compare`, in a fresh process (spawned by tools/bench_compare.ts): the model
 * is loaded (for synthetic presets, the checkpoint folder of tools/bench_checkpoints.ts, already quantized for
 * w8a8/w4; other models are quantized in memory when asked) and generated from under `bench model`'s own timing
 * (tools/bench_model.ts), so the first generate is cold (weights read and prepared on first use) and the
 * process's peak RSS is this configuration's alone.
 *
 * argv[2]: JSON of ChildRequest. stdout: JSON of BenchModelResult.
 */
import { runBenchModel } from './bench_model.js';
import { setThreads } from './threads.js';

export interface ChildRequest {
  /** A model folder (bench compare passes the checkpoint folders of synthetic presets) or a model source. */
  readonly model: string;
  /** Quantize in memory after loading (models without checkpoint folders). */
  readonly quant?: 'w8a8' | 'w4';
  readonly threads: number;
  readonly promptTokens: number;
  readonly genTokens: number;
  readonly reps: number;
  /** A policy string; '' = the default dispatch of generate/serve/bench model. */
  readonly dispatch: string;
}

async function main(): Promise<void> {
  const req = JSON.parse(process.argv[2] ?? '') as ChildRequest;
  setThreads(req.threads);
  const r = await runBenchModel({
    model: req.model,
    quant: req.quant,
    promptLengths: [req.promptTokens],
    genTokens: req.genTokens,
    // The warm-up run is the cold one (weights prepared on first use); the timed repetitions are warm.
    warmup: 1,
    reps: req.reps,
    dispatch: [req.dispatch],
    peer: false,
    profile: false,
  });
  process.stdout.write(JSON.stringify(r));
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});

/**
 * PyTorch as a peer of `bench compare`: tools/peers/torch_model.py (eager OPT/Llama with a KV cache, random
 * weights of the preset's shapes, float32) in a child process of the same run, its BLAS threads set to the
 * configuration's thread count, single-row projections through torch.mv (PyTorch's fastest decode path).
 */
import { failureOf, runChild } from './child.js';
import { peerBlas, peerScript, pythonWithTorch } from '../peer.js';

export interface TorchPeerRow {
  readonly name: string;
  readonly threads: number;
  /** First forward of the process (128-token prefill + first token), with no weight preparation to do. */
  readonly coldTtftMs: number;
  readonly ttftMs: number;
  readonly tokensPerS: number;
  readonly peakRssMiB: number | undefined;
}

interface TorchModelJson {
  readonly torch: string;
  readonly threads: number;
  readonly cold_ttft_ms: number;
  readonly max_rss_mib: number;
  readonly results: readonly { readonly prompt_tokens: number; readonly ttft_ms: number; readonly tokens_per_s: number }[];
}

/** Why the PyTorch peer cannot run here, or undefined. */
export function torchProblem(): string | undefined {
  return pythonWithTorch() ? undefined : 'PyTorch not found (apt-get install python3-torch, or set OPSHIFT_PYTHON)';
}

export async function runTorchPeer(
  config: unknown,
  prompt: readonly number[],
  o: { threads: number; genTokens: number; reps: number; timeoutMs: number },
): Promise<TorchPeerRow> {
  const py = pythonWithTorch();
  if (!py) throw new Error(torchProblem());
  const input = JSON.stringify({ config, prompts: [prompt], gen_tokens: o.genTokens, reps: o.reps, warmup: 0, threads: o.threads, mv: true });
  // OpenBLAS ignores torch.set_num_threads: its pool is sized from the environment at load.
  const t = String(o.threads);
  const env = { ...process.env, OPENBLAS_NUM_THREADS: t, OMP_NUM_THREADS: t, OMP_WAIT_POLICY: 'PASSIVE' };
  const r = await runChild(py, [peerScript('torch_model.py')], { timeoutMs: o.timeoutMs, env, input });
  const failed = failureOf('torch_model.py', r, o.timeoutMs);
  if (failed) throw new Error(failed);
  let j: TorchModelJson;
  try {
    j = JSON.parse(r.stdout) as TorchModelJson;
  } catch {
    throw new Error(`torch_model.py printed no JSON (first bytes: ${JSON.stringify(r.stdout.slice(0, 80))})`);
  }
  const res = j.results[0];
  if (!res) throw new Error('torch_model.py returned no result');
  return {
    name: `PyTorch ${j.torch} eager, ${peerBlas()}, torch.mv for 1-row projections`,
    threads: j.threads,
    coldTtftMs: j.cold_ttft_ms,
    ttftMs: res.ttft_ms,
    tokensPerS: res.tokens_per_s,
    // The child's own getrusage is exact; the polled high-water mark is the fallback.
    peakRssMiB: j.max_rss_mib ?? r.peakRssMiB,
  };
}

#!/usr/bin/env node
/** The `opshift` command. */
import { writeFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { coverage, listBackends } from '../core/index.js';
import { renderTable } from '../core/profiler.js';
import { formatDispatchBench, runDispatchBench } from './bench_dispatch.js';
import { runDemo } from './demo.js';
import { formatBenchOp, runBenchOp } from './bench_op.js';
import { formatBenchGemm, runBenchGemm } from './bench_gemm.js';
import { formatOrtBench, runOrtBench } from './bench_ort.js';
import { caseCoverage, catalogJson } from './op_cases.js';

const program = new Command();
program.name('opshift').description('Eager-mode tensor runtime with per-op backend dispatch (CPU, ONNX Runtime, NPU)').version('0.1.0');

program
  .command('backends')
  .description('list every registered backend, available or not and why, with versions')
  .option('--json', 'machine-readable output')
  .action((opts: { json?: boolean }) => {
    const list = listBackends();
    if (opts.json) {
      console.log(JSON.stringify(list, null, 2));
      return;
    }
    const rows = list.map((b) => [
      b.name,
      b.status.available ? 'available' : 'unavailable',
      String(b.priority),
      String(b.kernels),
      b.status.available ? (b.status.version ?? '') : b.status.reason,
      b.status.available && b.status.details ? Object.entries(b.status.details).map(([k, v]) => `${k}=${v}`).join(' ') : '',
      b.description,
    ]);
    console.log(renderTable(['backend', 'status', 'priority', 'kernels', 'version / reason', 'details', 'description'], rows));
  });

program
  .command('ops')
  .description('op x backend coverage matrix')
  .option('--json', 'machine-readable output')
  .option('--cases-json', 'print the op-case catalog as JSON (input to the PyTorch fixture script)')
  .action((opts: { json?: boolean; casesJson?: boolean }) => {
    if (opts.casesJson) {
      console.log(catalogJson());
      return;
    }
    const rows = coverage();
    if (opts.json) {
      console.log(JSON.stringify(rows, null, 2));
      return;
    }
    const names = listBackends().map((b) => b.name);
    const available = listBackends().filter((b) => b.status.available).map((b) => b.name);
    const cases = caseCoverage(available);
    const cell = (op: string, b: string, has: boolean) => {
      if (!has) return '-';
      const c = cases[op]?.[b];
      return c ? `yes ${c[0]}/${c[1]}` : available.includes(b) ? 'yes' : 'yes (unavailable)';
    };
    console.log(
      renderTable(
        ['op', ...names, 'decompose'],
        rows.map((r) => [r.op, ...names.map((n) => cell(r.op, n, r.backends[n] === true)), r.composite ? 'yes' : '-']),
      ),
    );
    console.log(
      `\n${rows.length} ops. 'yes n/m': the backend has a kernel and ran n of the op's m catalog cases itself (supports() may refuse ` +
        `some); 'decompose': a composite that can run as primitives when no backend has a fused kernel`,
    );
  });

program
  .command('demo')
  .description('run a small eager workload under a per-op dispatch policy and print the profile')
  .option('--tokens <n>', 'prompt length (prefill M)', (v) => parseInt(v, 10), 16)
  .option('--dim <n>', 'model width', (v) => parseInt(v, 10), 64)
  .option('--trace <file>', 'write a Chrome/Perfetto trace JSON')
  .action((opts: { tokens: number; dim: number; trace?: string }) => {
    const { profile, policy } = runDemo({ tokens: opts.tokens, dim: opts.dim });
    const { prefill, decode } = profile.result;
    console.log(`policy: ${policy}`);
    console.log(`prefill output ${JSON.stringify(prefill.shape)}, mean ${prefill.mean().item().toFixed(6)}`);
    console.log(`decode output  ${JSON.stringify(decode.shape)}, mean ${decode.mean().item().toFixed(6)}\n`);
    console.log(profile.summary());
    console.log(`\n${profile.records.length} ops, ${profile.totalMs.toFixed(2)} ms in kernels`);
    if (opts.trace) {
      writeFileSync(opts.trace, JSON.stringify(profile.toChromeTrace()));
      console.log(`trace written to ${opts.trace} (open in https://ui.perfetto.dev)`);
    }
  });

const bench = program.command('bench').description('benchmarks');
bench
  .command('dispatch')
  .description("the dispatcher's own overhead per op (eager add vs bare kernel), with PyTorch measured in the same run")
  .addOption(new Option('--time <ms>', 'time per task').default(1000).argParser((v) => parseInt(v, 10)))
  .option('--no-peer', 'skip the PyTorch peer')
  .option('--json', 'machine-readable output')
  .action((opts: { time: number; peer: boolean; json?: boolean }) => {
    const r = runDispatchBench({ timeMs: opts.time, peer: opts.peer });
    console.log(opts.json ? JSON.stringify(r, null, 2) : formatDispatchBench(r));
  });

bench
  .command('op')
  .description('time op cases per backend (median, p90, GFLOP/s, GB/s, cause) next to PyTorch on the same inputs')
  .option('--cases <regex>', 'case names to run (default: the benchmark set)')
  .option('--backends <list>', 'comma-separated backends (default: every available one with a kernel)')
  .addOption(new Option('--time <ms>', 'time per case and backend').default(500).argParser((v) => parseInt(v, 10)))
  .addOption(new Option('--threads <n>', 'PyTorch threads').default(1).argParser((v) => parseInt(v, 10)))
  .option('--no-peer', 'skip the PyTorch peer')
  .option('--json', 'machine-readable output')
  .action((opts: { cases?: string; backends?: string; time: number; threads: number; peer: boolean; json?: boolean }) => {
    const r = runBenchOp({
      cases: opts.cases,
      backends: opts.backends?.split(',').map((s) => s.trim()),
      timeMs: opts.time,
      threads: opts.threads,
      peer: opts.peer,
    });
    console.log(opts.json ? JSON.stringify(r, null, 2) : formatBenchOp(r));
  });

bench
  .command('ort')
  .description('ORT through opshift vs onnxruntime-node session.run() directly: GEMMs with constant weights and a 1-element Add')
  .addOption(new Option('--time <ms>', 'time per case').default(1000).argParser((v) => parseInt(v, 10)))
  .option('--json', 'machine-readable output')
  .action(async (opts: { time: number; json?: boolean }) => {
    const rows = await runOrtBench({ timeMs: opts.time });
    console.log(opts.json ? JSON.stringify(rows, null, 2) : formatOrtBench(rows));
  });

bench
  .command('gemm')
  .description('float32 GEMM/GEMV GFLOP/s: cpu (TypeScript) vs wasm (SIMD) on 1024^3, 128x2048x2048, 1x4096x4096, with PyTorch (1 thread)')
  .option('--cases <regex>', 'case names to run (default: all)')
  .option('--backends <list>', 'comma-separated backends (default: cpu,wasm)')
  .addOption(new Option('--time <ms>', 'time per case and backend').default(2000).argParser((v) => parseInt(v, 10)))
  .addOption(new Option('--threads <n>', 'PyTorch threads').default(1).argParser((v) => parseInt(v, 10)))
  .option('--no-peer', 'skip the PyTorch peer')
  .option('--json', 'machine-readable output')
  .action((opts: { cases?: string; backends?: string; time: number; threads: number; peer: boolean; json?: boolean }) => {
    const r = runBenchGemm({
      cases: opts.cases,
      backends: opts.backends?.split(',').map((s) => s.trim()),
      timeMs: opts.time,
      threads: opts.threads,
      peer: opts.peer,
    });
    console.log(opts.json ? JSON.stringify(r, null, 2) : formatBenchGemm(r));
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  console.error(`opshift: ${(e as Error).message}`);
  process.exit(1);
});

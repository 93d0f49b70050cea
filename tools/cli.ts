#!/usr/bin/env node
/**
 * The `opshift` command. Every option value is parsed and checked (tools/cli_args.ts) and every conflict
 * rejected before a model loads or anything prints; tables fit the terminal (tools/table.ts, --wide for full
 * width). The llama.cpp habits work: -m model, -p prompt, -f prompt file, -n tokens to generate, -t threads.
 */
import { checkOutputFile, readTextOption } from './cli_files.js';
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { coverage, listBackends } from '../core/index.js';
import { parsePolicy } from '../core/policy_spec.js';
import { type GroupKey } from '../core/profiler.js';
import { formatDispatchBench, runDispatchBench } from './bench_dispatch.js';
import { runDemo } from './demo.js';
import { benchOpCsv, benchOpMarkdown, formatBenchOp, rooflineSvg, runBenchOp } from './bench_op.js';
import { formatMachine, machineProfile } from './bench_machine.js';
import { svgToPng } from './chart/svg.js';
import { benchModelSvg } from './chart/model.js';
import { formatProfile, runProfile, summaryText } from './profile.js';
import { ArgumentError } from '../core/errors.js';
import { formatBenchGemm, runBenchGemm } from './bench_gemm.js';
import { formatOrtBench, runOrtBench } from './bench_ort.js';
import { formatBenchNpu, runBenchNpu } from './bench_npu.js';
import { formatBenchNpuGemv, runBenchNpuGemv } from './bench_npu_gemv.js';
import { formatBenchNpuPrefill, runBenchNpuPrefill } from './bench_npu_prefill.js';
import { caseCoverage, catalogJson } from './op_cases.js';
import { opsCounts, opsMarkdown, writeOpsReadme } from './ops_list.js';
import { loadTokenizerIfAny, openModel, parseIds, runGenerate, runLogits, underPolicy } from './generate.js';
import type { DType } from '../core/dtype.js';
import { benchModelCsv, formatBenchModel, runBenchModel } from './bench_model.js';
import { compareMarkdown, formatCompare, parsePrecisions, runCompare } from './bench_compare.js';
import { defaultCheckpointDir } from './bench_checkpoints.js';
import { llamaBenchPath } from './peers/llama_bench.js';
import { perplexity } from './eval_perplexity.js';
import { repoRoot } from './model_source.js';
import { formatQuantize, progressBar, runQuantize } from './quantize.js';
import { exportOnnx, formatExport, type ExportQuant } from './export/export_onnx.js';
import { copyTokenizerFiles } from './export/genai_config.js';
import { formatBenchExport, runBenchExport } from './export/bench_export.js';
import { floatOption, intOption, MAX_TIME_MS, MAX_TOKENS, parseIntList, parseIntOption, readPromptFile } from './cli_args.js';
import { fitTable, outputWidth, wrapParagraph } from './table.js';
import { MAX_THREADS, NPU_MAX_THREADS, setThreads } from './threads.js';
import { LIMITS as SERVE_LIMITS, type ServeLimits } from './serve/limits.js';

const program = new Command();
program.name('opshift').description('Eager-mode tensor runtime with per-op backend dispatch (CPU, ONNX Runtime, NPU)').version('0.1.0');
// --cache <dir> (any command, before or after it): the prepared-weight cache (backends/npu/prepared_cache.ts). Set as
// OPSHIFT_CACHE so that the serve worker and bench child processes, which read the environment, use it too.
program.option('--cache <dir>', 'directory of prepared npu weights (OPSHIFT_CACHE): mapped instead of repacked on the next start');
program.hook('preAction', () => {
  const dir = program.opts<{ cache?: string }>().cache;
  if (dir !== undefined) process.env.OPSHIFT_CACHE = resolve(dir);
});

/** --wide: tables at full width; otherwise they fit the terminal (80 columns when piped). */
const WIDE = ['--wide', 'print tables at full width (no wrapping, eliding or hidden columns)'] as const;
const widthOf = (o: { wide?: boolean }, stream: NodeJS.WriteStream = process.stdout): number => (o.wide ? Infinity : outputWidth(stream));

/** -t/--threads N: ORT intra-op threads and NPU library threads (and the PyTorch peer's where one runs). */
const threadsOption = (extra = '') =>
  new Option('-t, --threads <n>', `threads for every backend that has them: ORT intra-op threads and the NPU library's host threads (at most ${NPU_MAX_THREADS})${extra}; the cpu and wasm kernels are single-threaded (default: each backend's own)`).argParser(
    intOption('--threads', 1, MAX_THREADS),
  );
const applyThreads = (n: number | undefined): void => {
  if (n !== undefined) setThreads(n);
};
const modelHelp = 'folder, hub id (owner/name), demo:llama | demo:opt, or synthetic:<preset>';
const timeOption = (ms: number, what: string) => new Option('--time <ms>', what).default(ms).argParser(intOption('--time', 1, MAX_TIME_MS));

program
  .command('backends')
  .description('list every registered backend, available or not and why, with versions')
  .option('--json', 'machine-readable output')
  .option(...WIDE)
  .action((opts: { json?: boolean; wide?: boolean }) => {
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
      // Details (library paths, threads) on their own line under the version: narrow terminals wrap one column.
      b.status.available ? [b.status.version ?? '', Object.entries(b.status.details ?? {}).map(([k, v]) => `${k}=${v}`).join(' ')].filter(Boolean).join('\n') : b.status.reason,
      b.description,
    ]);
    const header = ['backend', 'status', { title: 'priority', drop: 2 }, 'kernels', 'version / reason / details', { title: 'description', drop: 1, elide: true }];
    console.log(fitTable(header, rows, { width: widthOf(opts) }));
  });

program
  .command('ops')
  .description('op x backend coverage matrix')
  .option('--json', 'machine-readable output')
  .option('--cases-json', 'print the op-case catalog as JSON (input to the PyTorch fixture script)')
  .option('--markdown', "every op with the backends registering a kernel for it (the README's generated op list)")
  .option('--readme <file>', 'rewrite the generated op list between the ops:begin/ops:end markers of <file>')
  .option(...WIDE)
  .action((opts: { json?: boolean; casesJson?: boolean; wide?: boolean; markdown?: boolean; readme?: string }) => {
    if (opts.casesJson) {
      console.log(catalogJson());
      return;
    }
    if (opts.markdown || opts.readme) {
      if (opts.readme) console.log(`${opts.readme}: ${writeOpsReadme(opts.readme) ? 'op list updated' : 'op list already up to date'} (${opsCounts()})`);
      else console.log(opsMarkdown());
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
    const width = widthOf(opts);
    console.log(
      fitTable(
        ['op', ...names, 'decompose'],
        rows.map((r) => [r.op, ...names.map((n) => cell(r.op, n, r.backends[n] === true)), r.composite ? 'yes' : '-']),
        { width },
      ),
    );
    console.log(
      wrapParagraph(
        `\n${rows.length} ops. 'yes n/m': the backend has a kernel and ran n of the op's m catalog cases itself (supports() may refuse ` +
          `some); 'decompose': a composite that can run as primitives when no backend has a fused kernel`,
        width,
      ),
    );
  });

program
  .command('demo')
  .description('run a small eager workload under a per-op dispatch policy and print the profile')
  .addOption(new Option('--tokens <n>', 'prompt length (prefill M)').default(16).argParser(intOption('--tokens', 1, 4096)))
  .addOption(new Option('--dim <n>', 'model width').default(64).argParser(intOption('--dim', 1, 4096)))
  .option('--trace <file>', 'write a Chrome/Perfetto trace JSON')
  .option(...WIDE)
  .action((opts: { tokens: number; dim: number; trace?: string; wide?: boolean }) => {
    if (opts.trace) checkOutputFile('--trace', opts.trace);
    const { profile, policy } = runDemo({ tokens: opts.tokens, dim: opts.dim });
    const { prefill, decode } = profile.result;
    console.log(wrapParagraph(`policy: ${policy}`, widthOf(opts)));
    console.log(`prefill output ${JSON.stringify(prefill.shape)}, mean ${prefill.mean().item().toFixed(6)}`);
    console.log(`decode output  ${JSON.stringify(decode.shape)}, mean ${decode.mean().item().toFixed(6)}\n`);
    console.log(summaryText(profile.rows(), profile.totalMs, widthOf(opts)));
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
  .addOption(timeOption(1000, 'time per task'))
  .option('--no-peer', 'skip the PyTorch peer')
  .option('--json', 'machine-readable output')
  .option(...WIDE)
  .action((opts: { time: number; peer: boolean; json?: boolean; wide?: boolean }) => {
    const r = runDispatchBench({ timeMs: opts.time, peer: opts.peer });
    console.log(opts.json ? JSON.stringify(r, null, 2) : formatDispatchBench(r, widthOf(opts)));
  });

/** A one-line progress indicator on stderr when it is a terminal; undefined (quiet) when piped. */
function ttyProgress(): { update: ((msg: string) => void) | undefined; done: () => void } {
  if (!process.stderr.isTTY) return { update: undefined, done: () => {} };
  return { update: (m) => process.stderr.write(`\r\x1b[K${m.slice(0, (process.stderr.columns || 100) - 1)}`), done: () => process.stderr.write('\r\x1b[K') };
}

/** Chart outputs are checked before the benchmark runs, not after it. */
function checkChartFiles(plot: string | undefined, png: string | undefined): void {
  if (plot !== undefined) checkOutputFile('--plot', plot);
  if (png !== undefined) checkOutputFile('--png', png);
}

/** Write an SVG chart, and its PNG rendering when asked (@resvg/resvg-js, no browser). */
async function writeChart(svg: string, file: string, png: string | undefined, what: string): Promise<void> {
  writeFileSync(file, svg);
  console.error(`${what} written to ${file}`);
  if (png) {
    writeFileSync(png, await svgToPng(svg));
    console.error(`${what} written to ${png}`);
  }
}

bench
  .command('op')
  .description('time op cases per backend (median, IQR, p90, ops/s, GFLOP/s, GB/s, cause, ratio to a baseline, error vs cpu) next to PyTorch on the same inputs')
  .argument('[ops...]', 'OpDef names to run (see opshift ops), e.g. MatMul Linear Softmax')
  .option('--cases <regex>', 'case names to run (default: the benchmark set)')
  .option('--shapes <list>', 'build cases from shapes: M×K×N for MatMul/Linear (default ops), the tensor shape for other ops, e.g. 1x2048x2048,128x2048x2048')
  .addOption(new Option('--dtype <dtype>', 'float inputs in this dtype').choices(['float32', 'float16', 'bfloat16']))
  .option('--backends <list>', 'comma-separated backends (default: every available one with a kernel)')
  .option('--baseline <backend>', 'add a speed-ratio column against this backend (e.g. cpu)')
  .option('--check', "compare every backend's outputs with the cpu reference (max abs/rel error, NMSE, allclose)")
  .addOption(timeOption(500, 'time per case and backend'))
  .addOption(threadsOption(' and the PyTorch peer (default 1 for ORT and the peer)'))
  .option('--no-peer', 'skip the PyTorch peer')
  .option('--plot <file.svg>', 'write a roofline chart (GFLOP/s vs flop/byte per backend under this machine\'s roofs)')
  .option('--png <file.png>', 'also render the chart as PNG (with --plot)')
  .addOption(new Option('--format <f>', 'output format').choices(['table', 'json', 'csv', 'md']).default('table'))
  .addOption(new Option('--json', 'same as --format json').conflicts('format'))
  .option(...WIDE)
  .action(async (ops: string[], opts: { cases?: string; shapes?: string; dtype?: DType; backends?: string; baseline?: string; check?: boolean; time: number; threads?: number; peer: boolean; plot?: string; png?: string; format: string; json?: boolean; wide?: boolean }) => {
    if (opts.png && !opts.plot) throw new ArgumentError('--png needs --plot <file.svg>');
    checkChartFiles(opts.plot, opts.png);
    applyThreads(opts.threads);
    const bar = ttyProgress();
    const r = runBenchOp({
      ops,
      cases: opts.cases,
      shapes: opts.shapes,
      dtype: opts.dtype,
      backends: opts.backends?.split(',').map((s) => s.trim()).filter(Boolean),
      baseline: opts.baseline,
      check: opts.check,
      timeMs: opts.time,
      threads: opts.threads,
      peer: opts.peer,
      onProgress: bar.update,
    });
    const machine = opts.plot ? machineProfile({ onProgress: bar.update && ((m) => bar.update!(`bench machine: ${m}`)) }) : undefined;
    bar.done();
    const format = opts.json ? 'json' : opts.format;
    console.log(format === 'json' ? JSON.stringify(machine ? { ...r, machine } : r, null, 2) : format === 'csv' ? benchOpCsv(r) : format === 'md' ? benchOpMarkdown(r) : formatBenchOp(r, widthOf(opts)));
    if (opts.plot && machine) await writeChart(rooflineSvg(r, machine), opts.plot, opts.png, 'roofline');
  });

bench
  .command('machine')
  .description("this machine's single-thread memory bandwidth and peak float32 GFLOP/s (the roofline's roofs); cached for 12 hours")
  .addOption(timeOption(300, 'time per probe'))
  .addOption(new Option('--mib <n>', 'array size per stream, MiB').default(64).argParser(intOption('--mib', 1, 4096)))
  .option('--fresh', 'measure again instead of using the cached result')
  .option('--json', 'machine-readable output')
  .option(...WIDE)
  .action((opts: { time: number; mib: number; fresh?: boolean; json?: boolean; wide?: boolean }) => {
    const bar = ttyProgress();
    const m = machineProfile({ timeMs: opts.time, mib: opts.mib, fresh: opts.fresh, onProgress: bar.update });
    bar.done();
    console.log(opts.json ? JSON.stringify(m, null, 2) : formatMachine(m, widthOf(opts)));
  });

bench
  .command('ort')
  .description('ORT through opshift vs onnxruntime-node session.run() directly: GEMMs with constant weights and a 1-element Add')
  .addOption(timeOption(1000, 'time per case'))
  .option('--json', 'machine-readable output')
  .option(...WIDE)
  .action(async (opts: { time: number; json?: boolean; wide?: boolean }) => {
    const rows = await runOrtBench({ timeMs: opts.time });
    console.log(opts.json ? JSON.stringify(rows, null, 2) : formatOrtBench(rows, widthOf(opts)));
  });

bench
  .command('gemm')
  .description('float32 GEMM/GEMV GFLOP/s: cpu (TypeScript) vs wasm (SIMD) on 1024^3, 128x2048x2048, 1x4096x4096, with PyTorch (1 thread)')
  .option('--cases <regex>', 'case names to run (default: all)')
  .option('--backends <list>', 'comma-separated backends (default: cpu,wasm)')
  .addOption(timeOption(2000, 'time per case and backend'))
  .addOption(new Option('-t, --threads <n>', 'PyTorch peer threads (the cpu and wasm kernels are single-threaded)').default(1).argParser(intOption('--threads', 1, MAX_THREADS)))
  .option('--no-peer', 'skip the PyTorch peer')
  .option('--json', 'machine-readable output')
  .option(...WIDE)
  .action((opts: { cases?: string; backends?: string; time: number; threads: number; peer: boolean; json?: boolean; wide?: boolean }) => {
    const r = runBenchGemm({
      cases: opts.cases,
      backends: opts.backends?.split(',').map((s) => s.trim()),
      timeMs: opts.time,
      threads: opts.threads,
      peer: opts.peer,
    });
    console.log(opts.json ? JSON.stringify(r, null, 2) : formatBenchGemm(r, widthOf(opts)));
  });

bench
  .command('model')
  .description("time to first token, decode tok/s (medians with their IQR) and the per-op backend breakdown over prompt lengths (Ryzen AI's model_benchmark; flags as llama-bench: -m -p -n -r -t)")
  .option('-m, --model <source>', `${modelHelp} (e.g. synthetic:opt-125m, synthetic:tinyllama-1.1b)`, 'synthetic:opt-125m')
  .option('-p, --prompt-lengths <list>', 'prompt lengths, comma-separated (llama-bench -p; -l also works)', '128')
  .addOption(new Option('-l <list>', 'same as --prompt-lengths').hideHelp().conflicts('promptLengths'))
  .addOption(new Option('-n, --gen-tokens <n>', 'tokens generated per run (llama-bench -n; -g also works)').default(64).argParser(intOption('--gen-tokens', 2, MAX_TOKENS)))
  .addOption(new Option('-g <n>', 'same as --gen-tokens').hideHelp().argParser(intOption('--gen-tokens', 2, MAX_TOKENS)).conflicts('genTokens'))
  .addOption(new Option('-w, --warmup <n>', 'warm-up runs per prompt length').default(1).argParser(intOption('--warmup', 0, 1000)))
  .addOption(new Option('-r, --reps <n>', 'timed repetitions (medians and IQR reported)').default(3).argParser(intOption('--reps', 1, 1000)))
  .option('--dispatch <policy>', 'per-op backends, e.g. "Linear=ort,*=cpu" (default: priority order)')
  .addOption(new Option('--compare-dispatch <policies...>', 'several policies, one row set each').conflicts('dispatch'))
  .option('--interleave', 'with --compare-dispatch: take the repetitions round-robin over the policies (fair ratios on a machine whose load changes)')
  .option('-f, --prompt-file <file>', 'take prompt tokens from this text (tokenized with the model folder\'s tokenizer)')
  .option('--no-peer', 'skip the PyTorch peer (synthetic presets only)')
  .addOption(threadsOption(' and the PyTorch peer (default 1 for the peer)'))
  .addOption(new Option('--quant <q>', 'quantize in memory first: w8a8 (int8 per tensor) or w4 (uint4 g128)').choices(['w8a8', 'w4']))
  .addOption(new Option('--format <f>', 'output format').choices(['table', 'json', 'csv']).default('table'))
  .option('--plot <file.svg>', 'write a chart: TTFT and tokens/s against prompt length, one series per dispatch policy')
  .option('--png <file.png>', 'also render the chart as PNG (with --plot)')
  .option(...WIDE)
  .action(async (opts: { model: string; promptLengths: string; l?: string; genTokens: number; g?: number; warmup: number; reps: number; dispatch?: string; compareDispatch?: string[]; promptFile?: string; format: string; peer: boolean; threads?: number; plot?: string; png?: string; quant?: 'w8a8' | 'w4'; wide?: boolean; interleave?: boolean }) => {
    if (opts.png && !opts.plot) throw new ArgumentError('--png needs --plot <file.svg>');
    checkChartFiles(opts.plot, opts.png);
    const promptLengths = parseIntList('--prompt-lengths', opts.l ?? opts.promptLengths, 1, MAX_TOKENS);
    const policies = opts.compareDispatch ?? [opts.dispatch ?? ''];
    for (const p of policies) if (p) parsePolicy(p); // a bad policy fails before the model loads
    applyThreads(opts.threads);
    const progress = ttyProgress();
    const r = await runBenchModel(
      {
        model: opts.model,
        promptLengths,
        genTokens: opts.g ?? opts.genTokens,
        warmup: opts.warmup,
        reps: opts.reps,
        dispatch: policies,
        promptFile: opts.promptFile,
        peer: opts.peer,
        threads: opts.threads ?? 1,
        quant: opts.quant,
        interleave: opts.interleave,
      },
      progress.update,
    );
    progress.done();
    console.log(opts.format === 'json' ? JSON.stringify(r, null, 2) : opts.format === 'csv' ? benchModelCsv(r) : formatBenchModel(r, widthOf(opts)));
    if (opts.plot) await writeChart(benchModelSvg(r), opts.plot, opts.png, 'chart');
  });

bench
  .command('export')
  .description('the exported ONNX graph on onnxruntime-node against opshift eager, same model, prompt and greedy decode in one run: TTFT and decode tok/s (issue #21)')
  .option('-m, --model <source>', modelHelp, 'demo:llama')
  .addOption(new Option('-p, --prompt-tokens <n>', 'prompt length').default(128).argParser(intOption('--prompt-tokens', 1, MAX_TOKENS)))
  .addOption(new Option('-n, --gen-tokens <n>', 'tokens generated').default(64).argParser(intOption('--gen-tokens', 2, MAX_TOKENS)))
  .addOption(new Option('-r, --reps <n>', 'timed repetitions (medians reported)').default(3).argParser(intOption('--reps', 1, 1000)))
  .addOption(new Option('--quant <q>', 'quantize first: w8a8 or w4').choices(['w8a8', 'w4']))
  .addOption(threadsOption(' (ORT gets the same number of intra-op threads; default 1)'))
  .option('--json', 'print the result as JSON')
  .option(...WIDE)
  .action(async (opts: { model: string; promptTokens: number; genTokens: number; reps: number; quant?: ExportQuant; threads?: number; json?: boolean; wide?: boolean }) => {
    applyThreads(opts.threads);
    const progress = ttyProgress();
    const r = await runBenchExport({ model: opts.model, promptTokens: opts.promptTokens, genTokens: opts.genTokens, reps: opts.reps, threads: opts.threads ?? 1, quant: opts.quant }, progress.update);
    progress.done();
    console.log(opts.json ? JSON.stringify(r, null, 2) : formatBenchExport(r, widthOf(opts)));
  });

bench
  .command('compare')
  .description('opshift, llama.cpp (llama-bench) and PyTorch side by side in one run: cold/warm TTFT, decode tok/s and peak RSS per model, precision and thread count, each configuration in its own process (the README model table)')
  .option('-m, --model <list>', 'comma-separated synthetic presets', 'synthetic:opt-125m,synthetic:tinyllama-1.1b')
  .option('--precision <list>', 'comma-separated: fp32, w8a8 (vs llama.cpp Q8_0), w4 (uint4 g128, vs Q4_0)', 'fp32,w8a8,w4')
  .option('-t, --threads <list>', `comma-separated thread counts (each 1..${NPU_MAX_THREADS})`, '1,2')
  .addOption(new Option('-p, --prompt-tokens <n>', 'prompt length (llama-bench -p)').default(128).argParser(intOption('--prompt-tokens', 1, MAX_TOKENS)))
  .addOption(new Option('-n, --gen-tokens <n>', 'tokens generated (llama-bench -n)').default(64).argParser(intOption('--gen-tokens', 2, MAX_TOKENS)))
  .addOption(new Option('-r, --reps <n>', 'warm repetitions per engine and configuration').default(3).argParser(intOption('--reps', 1, 100)))
  .option('--dispatch <policy>', "opshift's per-op backends (default: the default dispatch of generate/serve/bench model)")
  .option('--llama-bench <path>', 'llama.cpp llama-bench binary (default: $OPSHIFT_LLAMA_BENCH; absent: llama.cpp skipped)')
  .option('--gguf-dir <dir>', 'folder with {opt,tinyllama}-{f32,q8_0,q4_0}.gguf', '.')
  .option('--checkpoint-dir <dir>', "cache of the safetensors folders opshift's rows load (fp32, w8a8, w4 of each preset; written once, then reused)", defaultCheckpointDir())
  .option('--no-torch', 'skip the PyTorch peer')
  .addOption(new Option('--timeout <s>', 'limit per child process, seconds').default(1200).argParser(intOption('--timeout', 10, 86400)))
  .addOption(new Option('--format <f>', 'output format').choices(['table', 'json', 'md']).default('table'))
  .option(...WIDE)
  .action(async (opts: { model: string; precision: string; threads: string; promptTokens: number; genTokens: number; reps: number; dispatch?: string; llamaBench?: string; ggufDir: string; checkpointDir: string; torch: boolean; timeout: number; format: string; wide?: boolean }) => {
    if (opts.dispatch) parsePolicy(opts.dispatch); // a bad policy fails before any child starts
    const r = await runCompare(
      {
        models: opts.model.split(',').map((s) => s.trim()).filter(Boolean),
        precisions: parsePrecisions(opts.precision),
        threads: parseIntList('--threads', opts.threads, 1, NPU_MAX_THREADS),
        promptTokens: opts.promptTokens,
        genTokens: opts.genTokens,
        reps: opts.reps,
        dispatch: opts.dispatch ?? '',
        llamaBench: llamaBenchPath(opts.llamaBench),
        ggufDir: opts.ggufDir,
        checkpointDir: opts.checkpointDir,
        torch: opts.torch,
        timeoutMs: opts.timeout * 1000,
      },
      (m) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${m}\n`),
    );
    console.log(opts.format === 'json' ? JSON.stringify(r, null, 2) : opts.format === 'md' ? compareMarkdown(r) : formatCompare(r, widthOf(opts)));
  });

/** Ranges of the sampling options (models/sampling.ts checks the same rules for library callers). */
const TEMPERATURE = { min: 0, max: 100, minExclusive: true } as const;
const TOP_P = { min: 0, max: 1, minExclusive: true } as const;
const REPETITION_PENALTY = { min: 0, max: 100, minExclusive: true } as const;

/** The prompt's source options, shared by generate and profile (exactly one of them). */
function addPromptOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('-p, --prompt <text>', "prompt text (needs the model folder's tokenizer.json)").conflicts(['ids', 'promptFile']))
    .addOption(new Option('-f, --prompt-file <file>', "prompt text from a file, '-' for standard input (for long prompts: command lines have a size limit)").conflicts('ids'))
    .option('--ids <list>', 'prompt token ids, comma-separated (instead of a text prompt)');
}

interface PromptOptions {
  prompt?: string;
  promptFile?: string;
  ids?: string;
}

/** The prompt as ids or text, read and checked before the model loads; an error when none is given. */
function promptSource(o: PromptOptions): { ids: number[] } | { text: string } {
  if (o.ids !== undefined) return { ids: parseIds(o.ids) };
  if (o.promptFile !== undefined) return { text: readPromptFile(o.promptFile) };
  if (o.prompt !== undefined) return { text: o.prompt };
  throw new ArgumentError('give --prompt TEXT, --prompt-file FILE or --ids 1,2,3');
}

interface GenerateCliOptions extends PromptOptions {
  model: string;
  maxNewTokens: number;
  greedy?: boolean;
  temperature?: number;
  topP?: number;
  topK?: number;
  repetitionPenalty?: number;
  seed?: number;
  ignoreEos?: boolean;
  dispatch?: string;
  dtype: DType;
  threads?: number;
  profile?: boolean;
  json?: boolean;
  wide?: boolean;
}

addPromptOptions(
  program
    .command('generate')
    .description('generate text with OPT or Llama from a Hugging Face folder, hub id, demo:<name> or synthetic:<preset>')
    .option('-m, --model <source>', modelHelp, 'demo:llama'),
)
  .addOption(new Option('-n, --max-new-tokens <n>', 'tokens to generate').default(32).argParser(intOption('--max-new-tokens', 1, MAX_TOKENS)))
  .addOption(new Option('--greedy', 'argmax decoding (the default unless --temperature is given)').conflicts(['temperature', 'topP', 'topK', 'seed']))
  .addOption(new Option('--temperature <t>', 'sample with this temperature (> 0)').argParser(floatOption('--temperature', TEMPERATURE)))
  .addOption(new Option('--top-p <p>', 'nucleus sampling mass, in (0, 1]').argParser(floatOption('--top-p', TOP_P)))
  .addOption(new Option('--top-k <k>', 'sample among the k most likely tokens (0: off)').argParser(intOption('--top-k', 0, MAX_TOKENS)))
  .addOption(new Option('--repetition-penalty <r>', 'penalty on tokens already present (1: off)').argParser(floatOption('--repetition-penalty', REPETITION_PENALTY)))
  .addOption(new Option('--seed <s>', 'sampling seed').default(0).argParser(intOption('--seed', 0, 2 ** 32 - 1)))
  .option('--ignore-eos', 'keep going past end-of-sequence tokens')
  .option('--dispatch <policy>', 'per-op backends, e.g. "MatMul=ort,Linear=rows>=8?ort:cpu,*=cpu"')
  .addOption(new Option('--dtype <dtype>', 'weight dtype in memory').default('float32').choices(['float32', 'float16', 'bfloat16']))
  .addOption(threadsOption())
  .option('--profile', 'print the per-op dispatch profile (backend, cause, time) after the text')
  .option('--json', 'print one JSON object: {ids, text, ttft_ms, tokens_per_s, ...}')
  .option(...WIDE)
  .action(async (opts: GenerateCliOptions) => {
    // Everything that can be checked without the model is checked before it loads.
    if (opts.dispatch) parsePolicy(opts.dispatch);
    const source = promptSource(opts);
    applyThreads(opts.threads);
    const { model, dir, loadMs } = await openModel(opts.model, { dtype: opts.dtype });
    const tok = loadTokenizerIfAny(dir, 'text' in source);
    const prompt = 'ids' in source ? source.ids : tok!.encode(source.text);
    const stream = !opts.json;
    const decoder = tok?.streamDecoder({ context: prompt });
    // The prompt is echoed with the first token, not before: an error in the prefill (a prompt id outside the
    // vocabulary, a prompt longer than the model's context) then prints alone, not glued to the prompt.
    const echo = stream && 'text' in source ? source.text : '';
    const r = runGenerate(model, prompt, {
      maxNewTokens: opts.maxNewTokens,
      greedy: opts.greedy,
      temperature: opts.temperature,
      topP: opts.topP,
      topK: opts.topK,
      repetitionPenalty: opts.repetitionPenalty,
      seed: opts.seed,
      ignoreEos: opts.ignoreEos,
      dispatch: opts.dispatch,
      profile: opts.profile,
      onToken: (id, i) => {
        if (!stream) return;
        process.stdout.write(`${i === 0 ? echo : ''}${decoder ? decoder.push(id) : `${id} `}`);
      },
    });
    const cont = tok?.streamDecoder({ context: prompt });
    const text = cont ? cont.push(r.ids) + cont.flush() : undefined;
    const stats = { prompt_tokens: r.promptTokens, generated_tokens: r.ids.length, ttft_ms: r.ttftMs, tokens_per_s: r.tokensPerS, load_ms: loadMs, stopped_by: r.stoppedBy };
    if (opts.json) {
      console.log(JSON.stringify({ ids: r.ids, text, ...stats, profile: r.profile?.rows(['op', 'backend']) }));
      return;
    }
    if (decoder) process.stdout.write(decoder.flush());
    process.stdout.write('\n');
    const status = `[${r.promptTokens} prompt + ${r.ids.length} generated tokens; TTFT ${r.ttftMs.toFixed(1)} ms; decode ${Number.isNaN(r.tokensPerS) ? '-' : r.tokensPerS.toFixed(2)} tok/s; load ${loadMs.toFixed(0)} ms; stopped by ${r.stoppedBy}]`;
    console.error(`\n${wrapParagraph(status, widthOf(opts, process.stderr))}`);
    if (r.profile) console.error(`\n${summaryText(r.profile.rows(['op', 'backend']), r.profile.totalMs, widthOf(opts, process.stderr))}`);
  });

program
  .command('logits')
  .description('write the float32 logits of a forward pass as a NumPy .npy file (last position: [vocab])')
  .requiredOption('-m, --model <source>', modelHelp)
  .requiredOption('--ids <list>', 'token ids, comma-separated')
  .requiredOption('--out <file>', 'output .npy file')
  .option('--all-positions', 'every position: [T, vocab]')
  .option('--dispatch <policy>', 'per-op backends, as for generate')
  .addOption(threadsOption())
  .action(async (opts: { model: string; ids: string; out: string; allPositions?: boolean; dispatch?: string; threads?: number }) => {
    if (opts.dispatch) parsePolicy(opts.dispatch);
    checkOutputFile('--out', opts.out);
    const ids = parseIds(opts.ids);
    applyThreads(opts.threads);
    const { model } = await openModel(opts.model);
    const r = runLogits(model, ids, { allPositions: opts.allPositions, dispatch: opts.dispatch, out: opts.out });
    console.log(`wrote ${opts.out}: float32 [${r.shape.join(', ')}]`);
  });

bench
  .command('npu')
  .description('NPU emulation library vs ORT on the quantized linears (w8a8 vs MatMulInteger, w4abf16 vs MatMulNBits) at 1 and 2 library threads, and the FFI overhead per call')
  .addOption(timeOption(1000, 'time per task'))
  .option('--threads <list>', `comma-separated library thread counts (each 1..${NPU_MAX_THREADS})`, '1,2')
  .addOption(new Option('--accuracy <n>', 'ORT MatMulNBits accuracy_level').default(4).argParser(intOption('--accuracy', 0, 4)))
  .addOption(new Option('--isa <isa>', 'cap the emulation kernels').choices(['auto', 'avx2-vnni', 'avx2', 'portable']).default('auto'))
  .option('--gemv', 'decode GEMV bandwidth instead: w4/w8a8/f32 at TinyLlama and OPT-125m shapes, GB/s of weight bytes vs bench machine (same run)')
  .addOption(new Option('--m <rows>', 'rows of the --gemv runs (decode: 1)').default(1).argParser(intOption('--m', 1, 64)))
  .option('--baseline-lib <path>', 'with --gemv: another build of the library (e.g. an older commit), timed round-robin with this one in the same run')
  .option('--prefill', 'prefill GEMMs instead: 128 x K x N at OPT-125m and TinyLlama shapes, npu f32 vs ORT MatMul and npu w4abf16 vs ORT f32 / MatMulNBits (interleaved, same run)')
  .addOption(new Option('--clock <clock>', '--prefill timing: wall, or the process CPU time (robust to a loaded machine, 1 thread only)').choices(['wall', 'cpu']).default('wall'))
  .option('--json', 'machine-readable output')
  .option(...WIDE)
  .action((opts: { time: number; threads: string; accuracy: number; isa: 'auto' | 'avx2-vnni' | 'avx2' | 'portable'; gemv?: boolean; m: number; baselineLib?: string; json?: boolean; wide?: boolean; prefill?: boolean; clock: 'wall' | 'cpu' }) => {
    const threads = parseIntList('--threads', opts.threads, 1, NPU_MAX_THREADS);
    if (opts.prefill) {
      const p = runBenchNpuPrefill({ timeMs: opts.time, threads, isa: opts.isa, clock: opts.clock });
      console.log(opts.json ? JSON.stringify(p, null, 2) : formatBenchNpuPrefill(p, widthOf(opts)));
      return;
    }
    if (opts.gemv) {
      const g = runBenchNpuGemv({ timeMs: Math.min(opts.time, 1000), threads, isa: opts.isa, m: opts.m, baseline: opts.baselineLib });
      console.log(opts.json ? JSON.stringify(g, null, 2) : formatBenchNpuGemv(g, widthOf(opts)));
      return;
    }
    const r = runBenchNpu({ timeMs: opts.time, threads, accuracy: opts.accuracy, isa: opts.isa });
    console.log(opts.json ? JSON.stringify(r, null, 2) : formatBenchNpu(r, widthOf(opts)));
  });

addPromptOptions(
  program
    .command('profile')
    .description(
      'run a generate (or one forward) under the profiler: per op/backend/shape, split into prefill (M > 1) and decode (M = 1), with causes and a Chrome trace. ' +
        'The first run of a model includes one-time weight preparation (ORT sessions, NPU weight formatting, wasm packing) in its prefill: --warmup N runs N untimed steps first',
    )
    .requiredOption('-m, --model <source>', modelHelp),
)
  .addOption(new Option('-n, --max-new-tokens <n>', 'tokens to generate (0: one forward over the prompt)').default(16).argParser(intOption('--max-new-tokens', 0, MAX_TOKENS)))
  .addOption(new Option('--warmup <n>', 'untimed generate steps (forwards) on the same prompt and policy before profiling, so one-time weight preparation is not in the profile').default(0).argParser(intOption('--warmup', 0, 10_000)))
  .option('--dispatch <policy>', 'per-op backends, e.g. "Linear=rows>=8?ort:wasm,*=cpu"')
  .addOption(new Option('--dtype <dtype>', 'weight dtype in memory').choices(['float32', 'float16', 'bfloat16']))
  .addOption(threadsOption())
  .option('--group-by <keys>', 'comma-separated: op, backend, shape', 'op,backend,shape')
  .addOption(new Option('--top <n>', 'rows per table').default(25).argParser(intOption('--top', 1, 100_000)))
  .option('--trace <file.json>', 'write a Chrome trace (open in https://ui.perfetto.dev)')
  .option('--json', 'print the report as JSON')
  .option(...WIDE)
  .action(async (opts: PromptOptions & { model: string; maxNewTokens: number; warmup: number; dispatch?: string; dtype?: DType; threads?: number; groupBy: string; top: number; trace?: string; json?: boolean; wide?: boolean }) => {
    const keys = opts.groupBy.split(',').map((s) => s.trim());
    const bad = keys.find((k) => !['op', 'backend', 'shape'].includes(k));
    if (bad !== undefined) throw new ArgumentError(`--group-by '${opts.groupBy}': '${bad}' is not one of op, backend, shape`);
    if (opts.dispatch) parsePolicy(opts.dispatch);
    if (opts.trace) checkOutputFile('--trace', opts.trace);
    const source = promptSource(opts);
    applyThreads(opts.threads);
    const bar = ttyProgress();
    const { report, trace } = await runProfile({
      model: opts.model,
      ...('ids' in source ? { ids: opts.ids } : { prompt: source.text }),
      maxNewTokens: opts.maxNewTokens,
      warmup: opts.warmup,
      dispatch: opts.dispatch,
      dtype: opts.dtype,
      groupBy: keys as GroupKey[],
      onProgress: bar.update,
    });
    bar.done();
    console.log(opts.json ? JSON.stringify(report, null, 2) : formatProfile(report, opts.top, widthOf(opts)));
    if (opts.trace) {
      writeFileSync(opts.trace, JSON.stringify(trace));
      console.error(`trace written to ${opts.trace} (${trace.traceEvents.length} events; open in https://ui.perfetto.dev)`);
    }
  });

const evalCmd = program.command('eval').description('model evaluation');

evalCmd
  .command('perplexity')
  .description("sliding-window perplexity (Hugging Face's method) of a text, under any dispatch policy")
  .option('-m, --model <source>', modelHelp, 'demo:llama')
  .option('-f, --text <file>', 'text to score (default: the demo models\' held-out KJV chapters)')
  .addOption(new Option('--window <n>', 'tokens per window').default(256).argParser(intOption('--window', 2, MAX_TOKENS)))
  .addOption(new Option('--stride <n>', 'tokens between window starts (default: window / 2)').argParser(intOption('--stride', 1, MAX_TOKENS)))
  .addOption(new Option('--max-tokens <n>', 'score only the first N tokens of the text').argParser(intOption('--max-tokens', 2, Number.MAX_SAFE_INTEGER)))
  .option('--dispatch <policy>', 'per-op backends, as for generate')
  .addOption(threadsOption())
  .option('--json', 'machine-readable output')
  .action(async (opts: { model: string; text?: string; window: number; stride?: number; maxTokens?: number; dispatch?: string; threads?: number; json?: boolean }) => {
    const window = opts.window;
    const stride = opts.stride ?? Math.floor(window / 2);
    if (stride > window) throw new ArgumentError(`--stride ${stride} is larger than --window ${window} (tokens between windows would go unscored)`);
    if (opts.dispatch) parsePolicy(opts.dispatch);
    const file = opts.text ?? join(repoRoot(), 'models', 'demo', 'kjv-valid.txt');
    const textIn = readTextOption('--text', file);
    applyThreads(opts.threads);
    const { model, dir } = await openModel(opts.model);
    const tok = loadTokenizerIfAny(dir, true)!;
    let ids = tok.encode(textIn);
    if (opts.maxTokens !== undefined) ids = ids.slice(0, opts.maxTokens);
    const progress = ttyProgress();
    const bar = progress.update && ((done: number, total: number) => progress.update!(`scoring ${done}/${total} tokens`));
    const { result: r } = underPolicy(opts.dispatch, false, () => perplexity(model, ids, { window, stride, onProgress: bar }));
    progress.done();
    const out = { model: opts.model, text: file, tokens: ids.length, window, stride, ...r };
    console.log(
      opts.json
        ? JSON.stringify(out)
        : `perplexity ${r.perplexity.toFixed(4)} (mean NLL ${r.meanNll.toFixed(5)} nats) over ${r.tokensScored} tokens of ${file}; window ${window}, stride ${stride}, ${r.windows} windows, ${(r.ms / 1000).toFixed(1)} s`,
    );
  });

const serveCommand = program
  .command('serve')
  .description('an OpenAI- and Ollama-compatible HTTP server (chat/completions, completions, SSE streaming; /api/chat, /api/generate NDJSON; /health, /metrics as JSON or Prometheus text); the model runs in a worker thread')
  .option('-m, --model <source>', modelHelp, 'demo:llama')
  .option('--quant-dir <dir>', 'serve this quantized model folder instead of --model')
  .addOption(new Option('--quant <q>', 'quantize --model in memory at load: w8a8 (int8 per tensor) or w4 (uint4 g128), every linear incl. lm_head, as bench model --quant').choices(['w8a8', 'w4']))
  .addOption(new Option('--port <n>', 'port (0: any free port)').default(8000).argParser(intOption('--port', 0, 65535)))
  .option('--host <addr>', 'address to bind (loopback by default)', '127.0.0.1')
  .option('--allow-host <names>', 'comma-separated Host header names answered besides localhost, 127.0.0.1, [::1] and the bound address (* = any); others get 403 (DNS rebinding protection)')
  .option('--dispatch <policy>', 'per-op backends, as for generate')
  .option('--api-key <key>', 'require Authorization: Bearer <key>')
  .addOption(threadsOption());
// The limits (body size, prompt tokens, max tokens, template and tokenizer budgets, timeouts) come from one
// table in tools/serve/limits.ts, shared with the README and the server's own startup check.
for (const spec of Object.values(SERVE_LIMITS)) serveCommand.addOption(new Option(`${spec.flag} <n>`, spec.help).default(spec.default).argParser(intOption(spec.flag, 1, Number.MAX_SAFE_INTEGER)));
serveCommand.action(async (opts: { model: string; quantDir?: string; quant?: 'w8a8' | 'w4'; port: number; host: string; allowHost?: string; dispatch?: string; apiKey?: string; threads?: number } & ServeLimits) => {
  if (opts.dispatch) parsePolicy(opts.dispatch); // a bad policy fails before the model loads
  if (opts.quant && opts.quantDir) throw new ArgumentError(`opshift serve: --quant ${opts.quant} quantizes --model at load; --quant-dir ${opts.quantDir} is already quantized: give one of them`);
  const source = opts.quantDir ?? opts.model;
  const { createServer } = await import('./serve/server.js');
  const { model: _m, quantDir: _q, quant, port, host, allowHost, dispatch, apiKey, threads, ...limits } = opts;
  const server = await createServer({
    ...limits,
    model: source,
    modelName: quant ? `${source} (${quant})` : source,
    quant,
    host,
    allowHosts: allowHost?.split(','),
    dispatch,
    threads,
    apiKey: apiKey ?? process.env.OPSHIFT_API_KEY,
  });
  const address = await server.listen(port);
  console.error(`opshift serve: ${source} on ${address}/v1 (POST /v1/chat/completions, /v1/completions; GET /v1/models, /health, /metrics) and Ollama's ${address}/api (chat, generate, tags, show)`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) process.exit(1); // a second signal: do not wait
    stopping = true;
    console.error(`opshift serve: ${signal}: finishing the running request, cancelling queued ones`);
    void server.shutdown().then(() => process.exit(0));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
});

bench
  .command('serve')
  .description('load-test opshift serve over loopback: streaming clients per concurrency level, tok/s, TTFT and inter-token p50/p99, 4xx/5xx, random disconnects, a hard time bound (--url a running server, or -m to start one)')
  .option('--url <url>', 'a running server, e.g. http://127.0.0.1:8000')
  .option('-m, --model <source>', `start a server on this model for the run (${modelHelp})`)
  .option('--clients <list>', 'concurrency levels, comma-separated', '1,8')
  .addOption(new Option('--requests <n>', 'requests per level').default(32).argParser(intOption('--requests', 1, 1_000_000)))
  .addOption(new Option('--max-tokens <n>', 'max_tokens of each request').default(32).argParser(intOption('--max-tokens', 1, MAX_TOKENS)))
  .addOption(new Option('--disconnect-rate <r>', 'fraction of requests that hang up mid-stream').default(0).argParser(floatOption('--disconnect-rate', { min: 0, max: 0.99 })))
  .option('-f, --prompt-file <file>', 'prompts, one per line (default: a few built-in KJV openings)')
  .addOption(new Option('--timeout <s>', 'bound on the whole run, seconds').default(300).argParser(intOption('--timeout', 1, MAX_TIME_MS / 1000)))
  .addOption(new Option('--warmup <n>', 'unmeasured requests before each level').default(1).argParser(intOption('--warmup', 0, 100)))
  .addOption(new Option('--temperature <t>', 'sampling temperature of the requests (0: greedy)').default(0).argParser(floatOption('--temperature', { min: 0, max: 2 })))
  .addOption(new Option('--seed <n>', 'seeds the disconnect pattern and the requests').default(1).argParser(intOption('--seed', 0, 2 ** 31 - 1)))
  .addOption(new Option('--prefix-reuse <words>', "also time second turns of conversations whose system prompt has this many words, with the first turn's prefix kept vs a fresh one").argParser(intOption('--prefix-reuse', 2, 100_000)))
  .addOption(new Option('--prefix-reps <n>', 'conversations for --prefix-reuse').default(5).argParser(intOption('--prefix-reps', 1, 1000)))
  .option('--api-key <key>', 'Authorization: Bearer <key> (default: $OPSHIFT_API_KEY)')
  .option('--dispatch <policy>', 'with -m: per-op backends of the started server')
  .addOption(new Option('--quant <q>', 'with -m: quantize the model in memory at load (w8a8 or w4), as serve --quant').choices(['w8a8', 'w4']))
  .addOption(threadsOption(' (with -m)'))
  .option('--json', 'machine-readable output')
  .action(async (opts: { url?: string; model?: string; clients: string; requests: number; maxTokens: number; disconnectRate: number; promptFile?: string; timeout: number; warmup: number; temperature: number; seed: number; prefixReuse?: number; prefixReps: number; apiKey?: string; dispatch?: string; quant?: 'w8a8' | 'w4'; threads?: number; json?: boolean }) => {
    if (opts.dispatch) parsePolicy(opts.dispatch);
    if (opts.quant && !opts.model) throw new ArgumentError('opshift bench serve: --quant applies to the server -m starts; a --url server was started with its own options');
    const { formatBenchServe, runBenchServe, DEFAULT_PROMPTS } = await import('./bench_serve.js');
    const prompts = opts.promptFile ? readPromptFile(opts.promptFile).split('\n').map((l) => l.trim()).filter(Boolean) : DEFAULT_PROMPTS;
    const r = await runBenchServe({
      url: opts.url,
      model: opts.model,
      server: { dispatch: opts.dispatch, threads: opts.threads, quant: opts.quant },
      clients: parseIntList('--clients', opts.clients, 1, 1024),
      requests: opts.requests,
      maxTokens: opts.maxTokens,
      disconnectRate: opts.disconnectRate,
      prompts,
      timeoutMs: opts.timeout * 1000,
      warmup: opts.warmup,
      seed: opts.seed,
      temperature: opts.temperature,
      prefixReuse: opts.prefixReuse === undefined ? undefined : { words: opts.prefixReuse, reps: opts.prefixReps },
      apiKey: opts.apiKey ?? process.env.OPSHIFT_API_KEY,
      onProgress: (m) => process.stderr.write(`bench serve: ${m}\n`),
    });
    console.log(opts.json ? JSON.stringify(r, null, 2) : formatBenchServe(r));
  });

const exportCmd = program.command('export').description('export a model as one graph (issue #21)');
exportCmd
  .command('onnx')
  .description('trace the model\'s forward and write one ONNX graph (Optimum/ORT GenAI names: input_ids, attention_mask, position_ids, past_key_values.* -> logits, present.*) and genai_config.json')
  .requiredOption('-m, --model <source>', modelHelp)
  .requiredOption('--out <file.onnx>', 'the ONNX file (weights over 2 GB go to <file.onnx>.data)')
  .addOption(new Option('--quant <q>', 'quantize the linears first: w8a8 (QuantizeLinear + MatMulInteger) or w4 (MatMulNBits)').choices(['w8a8', 'w4']))
  .addOption(new Option('--group-size <g>', 'w4 group size (default: the largest of 128, 64, 32 dividing every in_features)').argParser(intOption('--group-size', 16, 256)))
  .option('--no-kv-cache', 'a graph without past_key_values/present (prefill only)')
  .option('--last-logits', 'logits of the last position only ([B, 1, V]; default all positions, as Optimum)')
  .addOption(new Option('--opset <n>', 'ai.onnx opset').default(17).argParser(intOption('--opset', 17, 21)))
  .option('--json', 'print the result as JSON')
  .action(async (opts: { model: string; out: string; quant?: ExportQuant; groupSize?: number; kvCache: boolean; lastLogits?: boolean; opset: number; json?: boolean }) => {
    checkOutputFile('--out', opts.out);
    const { model, dir } = await openModel(opts.model);
    const r = exportOnnx(model, { out: opts.out, quant: opts.quant, groupSize: opts.groupSize, kvCache: opts.kvCache, opset: opts.opset, logits: opts.lastLogits ? 'last' : 'all' });
    // The tokenizer beside the graph: the folder is then what ONNX Runtime GenAI opens (og.Model + og.Tokenizer).
    const tokenizerFiles = dir ? copyTokenizerFiles(dir, dirname(resolve(opts.out))) : [];
    const { graph: _graph, ...summary } = r;
    console.log(opts.json ? JSON.stringify({ ...summary, tokenizerFiles }, null, 2) : `${formatExport(r)}${tokenizerFiles.length ? `\ncopied ${tokenizerFiles.join(', ')}` : ''}`);
  });

program
  .command('quantize')
  .description('quantize a model folder\'s linears (w8a8, smoothquant, awq, pergrp) and save it as a model folder')
  .requiredOption('-m, --model <source>', 'folder, hub id or demo:<name>')
  .requiredOption('--recipe <name>', 'w8a8 | smoothquant | awq | pergrp')
  .requiredOption('--out <dir>', 'output folder (config.json with quantization_config, model.safetensors, tokenizer files)')
  .addOption(new Option('--alpha <a>', 'SmoothQuant migration strength in [0, 1] (default 0.5)').argParser(floatOption('--alpha', { min: 0, max: 1 })))
  .addOption(
    new Option('--group-size <g>', 'w4 group size: 32, 64 or 128 (default 128)').argParser((v) => {
      const g = parseIntOption('--group-size', v, 32, 128);
      if (![32, 64, 128].includes(g)) throw new ArgumentError(`--group-size ${g} is not one of 32, 64, 128`);
      return g;
    }),
  )
  .option('--per-channel', 'w8a8/smoothquant: one weight scale per output channel (default: per tensor, as AMD)')
  .option('--calib <file>', 'calibration text (default: models/demo/kjv-calib.txt, a sample of the demo models\' training text)')
  .addOption(new Option('--calib-tokens <n>', 'calibration tokens (default 4096)').argParser(intOption('--calib-tokens', 1, MAX_TOKENS)))
  .option('--include <patterns...>', 'only these linears (module path parts or globs, e.g. mlp q_proj "model.layers.0.*")')
  .option('--exclude <patterns...>', 'keep these linears in float (default: lm_head)')
  .option('--no-clip', 'awq: skip the clipping search')
  .option('--no-tied-head', 'tied models (OPT, TinyLlama-style): keep the head float (default: a quantized copy of it beside the float embedding, as llama.cpp)')
  .addOption(threadsOption())
  .option('--json', 'print the report as JSON')
  .action(async (opts: { model: string; recipe: string; out: string; alpha?: number; groupSize?: number; perChannel?: boolean; calib?: string; calibTokens?: number; include?: string[]; exclude?: string[]; clip: boolean; tiedHead: boolean; threads?: number; json?: boolean }) => {
    applyThreads(opts.threads);
    const progress = ttyProgress();
    const r = await runQuantize(
      { ...opts, noClip: !opts.clip },
      progress.update && ((stage, done, total) => progress.update!(progressBar(stage, done, total))),
    );
    progress.done();
    console.log(opts.json ? JSON.stringify({ out: r.out, files: r.files, calibration: r.calibration, ...r.report }) : formatQuantize(r));
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  console.error(`opshift: ${(e as Error).message}`);
  process.exit(1);
});

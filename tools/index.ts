/**
 * `opshift/tools`: what the CLI does, as functions: op microbenchmarks, model benchmarks, the machine's roofs,
 * profiling a generation, perplexity, and resolving `--model` sources (folders, hub ids, demo:, synthetic:);
 * tracing and ONNX export (export/).
 */
export * from './bench_op.js';
export * from './bench_model.js';
export * from './bench_machine.js';
export * from './profile.js';
export * from './eval_perplexity.js';
export * from './model_source.js';
export * from './export/index.js';

/**
 * Issue #21 as a library (`opshift/tools`): trace what the dispatcher runs into a graph, export a causal LM as
 * one ONNX file, run that file with onnxruntime-node (an optional peer), and compare it with eager.
 */
export { trace, type TraceFn, type TraceOptions } from './trace.js';
export { ExportError, formatDim, formatShapeDims, type Dim, type DimExpr, type DimRef, type Graph, type GraphNode, type GraphValue } from './graph.js';
export { writeOnnx, type OnnxFileOptions } from './onnx_file.js';
export { exportOnnx, formatExport, GraphKVCache, type ExportOnnxOptions, type ExportOnnxResult, type ExportQuant } from './export_onnx.js';
export { copyTokenizerFiles, genaiConfig, type GenaiConfig } from './genai_config.js';
export { OnnxCausalLM, type StepResult } from './onnx_runner.js';
export { runBenchExport, formatBenchExport, type BenchExportOptions, type BenchExportResult, type BenchExportRow } from './bench_export.js';

/**
 * How the served model looks to Ollama clients (`/api/tags`, `/api/show`): size on disk, a digest, family,
 * parameter count and weight format. Read once at startup from the model folder's files (config.json,
 * tokenizer_config.json, the safetensors headers — never the weights themselves), so a multi-GB checkpoint costs
 * a few header reads.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readJson } from '../../models/io/checkpoint.js';
import { openSafetensors } from '../../models/io/safetensors.js';
import type { ModelInfo } from './protocol.js';

export interface OllamaModelDetails {
  readonly parent_model: string;
  readonly format: string;
  readonly family: string;
  readonly families: string[];
  readonly parameter_size: string;
  readonly quantization_level: string;
}

export interface OllamaModelDescription {
  /** Bytes of the model folder's weight and config files (0 for a synthetic model). */
  readonly size: number;
  /**
   * sha256 over config.json and each weight file's name, size and mtime: names this exact set of files without
   * hashing gigabytes of weights at startup (Ollama's digest is likewise of a manifest, not of the weights).
   */
  readonly digest: string;
  readonly modifiedAt: string;
  readonly details: OllamaModelDetails;
  /** The tokenizer's chat template ('' when it has none). */
  readonly template: string;
  readonly parameterCount: number | undefined;
  readonly config: Readonly<Record<string, unknown>>;
}

/** 7_400_000 → "7.4M", Ollama's parameter_size style. */
export function formatParameterCount(n: number | undefined): string {
  if (n === undefined) return '';
  for (const [unit, scale] of [
    ['T', 1e12],
    ['B', 1e9],
    ['M', 1e6],
    ['K', 1e3],
  ] as const)
    if (n >= scale) return `${Number((n / scale).toFixed(n >= 10 * scale ? 0 : 1))}${unit}`;
  return String(n);
}

/** Ollama's quantization_level for a checkpoint: its quantization method, else the dominant weight dtype. */
function quantizationLevel(config: Record<string, unknown>, bytesByDtype: Map<string, number>): string {
  const q = config.quantization_config;
  if (q && typeof q === 'object' && !Array.isArray(q)) {
    const { quant_method: method, bits } = q as Record<string, unknown>;
    if (typeof method === 'string') return `${method.toUpperCase()}${typeof bits === 'number' ? `_${bits}BIT` : ''}`;
  }
  let best = '';
  let most = -1;
  for (const [d, b] of bytesByDtype) if (b > most) [best, most] = [d, b];
  return best;
}

/** `serve --quant`: the worker quantized the linears at load, which the checkpoint's files do not say. */
function loadedQuant(info: ModelInfo): string | undefined {
  return info.quant ? info.quant.format.toUpperCase() : undefined;
}

export function describeModel(dir: string | undefined, info: ModelInfo): OllamaModelDescription {
  const family = info.modelType;
  if (dir === undefined)
    return {
      size: 0,
      digest: createHash('sha256').update(`synthetic:${family}:${info.vocabSize}:${info.maxPositions}`).digest('hex'),
      modifiedAt: new Date().toISOString(),
      details: { parent_model: '', format: 'synthetic', family, families: [family], parameter_size: '', quantization_level: loadedQuant(info) ?? '' },
      template: '',
      parameterCount: undefined,
      config: {},
    };
  const configFile = join(dir, 'config.json');
  const config = existsSync(configFile) ? readJson(configFile, 'config.json') : {};
  const hash = createHash('sha256').update(JSON.stringify(config));
  const weights = readdirSync(dir)
    .filter((f) => f.endsWith('.safetensors'))
    .sort();
  let size = existsSync(configFile) ? statSync(configFile).size : 0;
  let newest = 0;
  let params = 0;
  const bytesByDtype = new Map<string, number>();
  for (const f of weights) {
    const st = statSync(join(dir, f));
    size += st.size;
    newest = Math.max(newest, st.mtimeMs);
    hash.update(`\n${f}:${st.size}:${st.mtimeMs}`);
    const file = openSafetensors(join(dir, f));
    try {
      for (const name of file.names()) {
        const t = file.info(name);
        params += t.shape.reduce((a, b) => a * b, 1);
        bytesByDtype.set(t.dtype, (bytesByDtype.get(t.dtype) ?? 0) + t.byteLength);
      }
    } finally {
      file.close();
    }
  }
  let template = '';
  const tokConfig = join(dir, 'tokenizer_config.json');
  if (existsSync(tokConfig)) {
    const t = readJson(tokConfig, 'tokenizer_config.json').chat_template;
    if (typeof t === 'string') template = t;
  }
  const parameterCount = weights.length > 0 ? params : undefined;
  return {
    size,
    digest: hash.digest('hex'),
    modifiedAt: new Date(newest || Date.now()).toISOString(),
    details: { parent_model: '', format: 'safetensors', family, families: [family], parameter_size: formatParameterCount(parameterCount), quantization_level: loadedQuant(info) ?? quantizationLevel(config, bytesByDtype) },
    template,
    parameterCount,
    config,
  };
}

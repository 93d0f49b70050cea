/**
 * The CLI's option values: one parser for integers, one for floats, one for integer lists, each strict and
 * bounded, and the prompt sources (--prompt, --prompt-file, --ids). `Number()` alone reads '' as 0, '0x10' as
 * 16 and '1e12' as a count no typed array can hold; these parsers take decimal digits only and name the option,
 * the value and the allowed range in the error, before anything runs or prints.
 */
import { readTextOption } from './cli_files.js';
import { ArgumentError } from '../core/errors.js';

/** The largest token count any option takes: 2^20 (a million tokens is beyond every model here). */
export const MAX_TOKENS = 1 << 20;
/** The largest time budget (ms) a benchmark option takes: one hour. */
export const MAX_TIME_MS = 3_600_000;

export interface FloatRange {
  readonly min: number;
  readonly max: number;
  /** min itself is not allowed (e.g. temperature > 0). */
  readonly minExclusive?: boolean;
}

const INT = /^-?\d+$/;
const FLOAT = /^-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/;

/** A decimal integer in [min, max], or an ArgumentError naming `name`, the value and the range. */
export function parseIntOption(name: string, text: string, min: number, max: number): number {
  const t = text.trim();
  if (!INT.test(t)) throw new ArgumentError(`${name} '${text}' is not a decimal integer (allowed: ${min}..${max})`);
  const v = Number(t);
  if (v < min || v > max) throw new ArgumentError(`${name} ${t} is out of range (allowed: ${min}..${max})`);
  return v;
}

/** `parseIntOption` as a commander argParser. */
export const intOption = (name: string, min: number, max: number) => (v: string): number => parseIntOption(name, v, min, max);

function rangeText(r: FloatRange): string {
  return `${r.minExclusive ? '>' : '≥'} ${r.min} and ≤ ${r.max}`;
}

/** A decimal number (digits, point, optional exponent) within the range, or an ArgumentError naming it all. */
export function parseFloatOption(name: string, text: string, range: FloatRange): number {
  const t = text.trim();
  if (!FLOAT.test(t)) throw new ArgumentError(`${name} '${text}' is not a decimal number (allowed: ${rangeText(range)})`);
  const v = Number(t);
  if (!(range.minExclusive ? v > range.min : v >= range.min) || !(v <= range.max)) throw new ArgumentError(`${name} ${t} is out of range (allowed: ${rangeText(range)})`);
  return v;
}

/** `parseFloatOption` as a commander argParser. */
export const floatOption = (name: string, range: FloatRange) => (v: string): number => parseFloatOption(name, v, range);

/** A comma-separated list of decimal integers, each in [min, max] (e.g. prompt lengths "128,256"). */
export function parseIntList(name: string, text: string, min: number, max: number): number[] {
  const parts = text.split(',');
  if (parts.length === 0 || text.trim() === '') throw new ArgumentError(`${name} '${text}' is empty (expected comma-separated integers in ${min}..${max})`);
  return parts.map((p) => parseIntOption(name, p, min, max));
}

/**
 * The prompt text of --prompt-file: a file, or standard input for '-'. Long prompts go through a file because
 * the process command line has a size limit (and onnxruntime-node crashes on very long ones).
 */
export function readPromptFile(file: string): string {
  const text = readTextOption('--prompt-file', file, { allowStdin: true });
  if (text.length === 0) throw new ArgumentError(`--prompt-file ${file} is empty (a prompt needs at least one token)`);
  return text;
}


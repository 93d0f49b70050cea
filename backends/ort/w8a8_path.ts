/**
 * Which integer GEMM the ORT w8a8 graph asks MLAS for.
 *
 * The graph quantizes activations to uint8 with zero point 128, so MatMulInteger's A is uint8. With int8
 * weights MLAS takes its u8s8 kernels; on x86 without VNNI (AVX2, and AVX-512BW without VNNI) those use
 * vpmaddubsw, which adds two u8·s8 products into a *saturating* int16 — a documented ORT limitation that makes
 * results wrong whenever a pair of products exceeds 32767 (e.g. 255·127 + 255·127). With VNNI (vpdpbusd) the
 * u8s8 kernel accumulates in int32 and is exact. The u8u8 kernels widen to int16 first and are exact on every
 * CPU, so without VNNI the weight is baked as uint8 (w + 128) with zero point 128: the same integers.
 */
import { readFileSync } from 'node:fs';

export type W8A8Path = 'u8s8' | 'u8u8';
export type W8A8Setting = 'auto' | W8A8Path;
export const W8A8_SETTINGS: readonly W8A8Setting[] = ['auto', 'u8s8', 'u8u8'];

/** Linux cpuinfo flags for the instructions that make MLAS's u8s8 kernels exact (AVX-512 VNNI, AVX-VNNI). */
const VNNI_FLAGS = ['avx512_vnni', 'avx_vnni'];

/** Whether a /proc/cpuinfo text lists a VNNI flag (on its first `flags` line: every core lists the same ones). */
export function cpuinfoHasVnni(cpuinfo: string): boolean {
  const line = cpuinfo.split('\n').find((l) => /^flags\s*:/.test(l));
  if (!line) return false;
  const flags = new Set(line.slice(line.indexOf(':') + 1).trim().split(/\s+/));
  return VNNI_FLAGS.some((f) => flags.has(f));
}

let detected: boolean | undefined;

/** VNNI on this machine: read from /proc/cpuinfo on Linux; elsewhere (no portable source) assumed absent. */
export function cpuHasVnni(): boolean {
  if (detected === undefined) {
    try {
      detected = process.platform === 'linux' && cpuinfoHasVnni(readFileSync('/proc/cpuinfo', 'utf8'));
    } catch {
      detected = false; // unreadable cpuinfo (sandboxes): the exact path is the safe choice
    }
  }
  return detected;
}

/** The path a setting means here, and why: 'auto' keeps u8s8 (faster with VNNI) only where it is exact. */
export function resolveW8A8Path(setting: W8A8Setting, hasVnni: boolean = cpuHasVnni()): { path: W8A8Path; reason: string } {
  if (setting !== 'auto') return { path: setting, reason: 'set by configureOrt / OPSHIFT_ORT_W8A8' };
  return hasVnni
    ? { path: 'u8s8', reason: 'auto: the CPU has VNNI, u8s8 accumulates exactly' }
    : { path: 'u8u8', reason: 'auto: no VNNI, MLAS u8s8 would saturate int16 pair sums' };
}

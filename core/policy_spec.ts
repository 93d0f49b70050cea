/**
 * Dispatch policies as text, for the CLI and env (`--dispatch`, `OPSHIFT_DISPATCH`):
 *
 *   MatMul=ort,Linear=npu|ort,*=cpu        op = backend, or a preference list (first that accepts wins)
 *   Linear=rows>=8?npu:ort                 by rows of the first input: prefill (M ≥ 8) vs decode
 *   Softmax=decompose                      run the op's decomposition into primitives
 *
 * Ops are OpDef names (`opshift ops` lists them) or `*` for every op.
 */
import { ArgumentError } from './errors.js';
import { byRows, checkOpName, DECOMPOSE, type OpRule, type Policy } from './policy.js';
import { backendNames, hasBackend } from './registry.js';
import { didYouMean } from './suggest.js';

const ROWS = /^rows>=(\d+)\?([^:]+):(.+)$/;

function backends(spec: string, text: string): string[] {
  const list = text.split('|').map((s) => s.trim());
  for (const b of list)
    if (b !== DECOMPOSE && !hasBackend(b))
      throw new ArgumentError(`dispatch '${spec}': unknown backend '${b}'${didYouMean(b, [...backendNames(), DECOMPOSE])} (see opshift backends)`);
  return list;
}

export function parsePolicy(spec: string): Policy {
  const policy: Record<string, OpRule> = {};
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new ArgumentError(`dispatch '${spec}': '${part}' is not op=backend`);
    const op = part.slice(0, eq).trim();
    const rule = part.slice(eq + 1).trim();
    checkOpName(`dispatch '${spec}'`, op);
    const rows = ROWS.exec(rule);
    policy[op] = rows ? byRows(Number(rows[1]), backends(spec, rows[2]!), backends(spec, rows[3]!)) : backends(spec, rule);
  }
  return policy;
}

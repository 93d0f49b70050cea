/**
 * mm, bmm and einsum. None has a kernel of its own: each decomposes into views, sums and the dispatcher's
 * MatMul, so every matmul-shaped piece of work reaches whichever GEMM backend the policy picks.
 */
import { dispatch } from '../core/dispatcher.js';
import { DTypeError, ShapeError } from '../core/errors.js';
import { defineOp } from '../core/op_def.js';
import { formatShape } from '../core/shape.js';
import { Tensor } from '../core/tensor.js';
import { matmul, type MatMulInputs } from './linalg.js';
import { sum } from './reduce.js';
import { requireTensor, sig } from './util.js';

function sameDType(op: string, ts: readonly Tensor[]): void {
  const d = ts[0]!.dtype;
  if (ts.some((t) => t.dtype !== d)) throw new DTypeError(`${op}: expected all operands to have the same dtype, got ${ts.map(sig).join(', ')}`);
  if (d === 'bool') throw new DTypeError(`${op}: not supported for bool operands (${ts.map(sig).join(', ')})`);
}

/** torch.mm: [n, m] @ [m, p] only (no broadcasting, no 1-D promotion). */
export const Mm = defineOp<MatMulInputs, Record<string, never>>({
  name: 'Mm',
  meta({ a, b }) {
    if (a.ndim !== 2 || b.ndim !== 2) throw new ShapeError(`mm: both arguments must be matrices (2-D), got ${sig(a)} and ${sig(b)}`);
    if (a.shape[1] !== b.shape[0])
      throw new ShapeError(`mm: mat1 and mat2 shapes cannot be multiplied (${a.shape.join('x')} and ${b.shape.join('x')}): inner dims ${a.shape[1]} and ${b.shape[0]} differ`);
    sameDType('mm', [a, b]);
    return [{ shape: [a.shape[0]!, b.shape[1]!], dtype: a.dtype }];
  },
  decompose: ({ a, b }) => [matmul(a, b)],
  flops: ({ a, b }) => 2 * a.shape[0]! * a.shape[1]! * b.shape[1]!,
});

/** torch.bmm: [b, n, m] @ [b, m, p] with equal batch sizes (no broadcasting). */
export const Bmm = defineOp<MatMulInputs, Record<string, never>>({
  name: 'Bmm',
  meta({ a, b }) {
    if (a.ndim !== 3 || b.ndim !== 3) throw new ShapeError(`bmm: both arguments must be 3-D [batch, n, m], got ${sig(a)} and ${sig(b)}`);
    if (a.shape[0] !== b.shape[0])
      throw new ShapeError(`bmm: batch sizes of ${formatShape(a.shape)} and ${formatShape(b.shape)} differ (${a.shape[0]} and ${b.shape[0]}); bmm does not broadcast, use matmul`);
    if (a.shape[2] !== b.shape[1])
      throw new ShapeError(`bmm: ${formatShape(a.shape)} @ ${formatShape(b.shape)}: inner dims ${a.shape[2]} and ${b.shape[1]} differ`);
    sameDType('bmm', [a, b]);
    return [{ shape: [a.shape[0]!, a.shape[1]!, b.shape[2]!], dtype: a.dtype }];
  },
  decompose: ({ a, b }) => [matmul(a, b)],
  flops: ({ a, b }) => 2 * a.shape[0]! * a.shape[1]! * a.shape[2]! * b.shape[2]!,
});

export function mm(a: Tensor, b: Tensor): Tensor {
  return dispatch(Mm, { a: requireTensor('mm', 'input', a), b: requireTensor('mm', 'mat2', b) }, {});
}

export function bmm(a: Tensor, b: Tensor): Tensor {
  return dispatch(Bmm, { a: requireTensor('bmm', 'input', a), b: requireTensor('bmm', 'mat2', b) }, {});
}

// ---- einsum ----

/**
 * A parsed equation. Labels are numbers: letters by char code; the dims an ellipsis covers get labels
 * 1000 + k, k counted over the widest ellipsis, right-aligned (so ellipsis dims broadcast like batch dims).
 */
export interface EinsumPlan {
  /** Labels of each operand's dims, in order (repeats allowed: a diagonal). */
  readonly inputs: readonly (readonly number[])[];
  readonly output: readonly number[];
  /** Size of every label after broadcasting size-1 dims. */
  readonly sizes: ReadonlyMap<number, number>;
}

const ELL = 1000;
const labelName = (l: number): string => (l >= ELL ? `...[${l - ELL}]` : String.fromCharCode(l));
const isLetter = (c: string): boolean => /^[a-zA-Z]$/.test(c);

interface Term {
  readonly letters: number[];
  /** Position of the ellipsis among the letters, or -1. */
  readonly ellAt: number;
}

function parseTerm(eq: string, term: string, where: string): Term {
  const letters: number[] = [];
  let ellAt = -1;
  for (let i = 0; i < term.length; ) {
    if (term.startsWith('...', i)) {
      if (ellAt >= 0) throw new ShapeError(`einsum: '${eq}': ${where} '${term}' has more than one ellipsis`);
      ellAt = letters.length;
      i += 3;
      continue;
    }
    const c = term[i]!;
    if (!isLetter(c)) throw new ShapeError(`einsum: '${eq}': invalid subscript '${c}' in ${where} '${term}' (subscripts are letters a-z, A-Z and '...')`);
    letters.push(c.charCodeAt(0));
    i++;
  }
  return { letters, ellAt };
}

export function parseEinsum(equation: string, operands: readonly Tensor[]): EinsumPlan {
  const eq = equation.replace(/\s+/g, '');
  const arrow = eq.indexOf('->');
  const lhs = arrow >= 0 ? eq.slice(0, arrow) : eq;
  if (arrow >= 0 && eq.indexOf('->', arrow + 1) >= 0) throw new ShapeError(`einsum: '${equation}' has more than one '->'`);
  const terms = lhs.split(',');
  if (terms.length !== operands.length)
    throw new ShapeError(`einsum: '${equation}' has ${terms.length} input subscript${terms.length === 1 ? '' : 's'} but ${operands.length} operand${operands.length === 1 ? ' was' : 's were'} given (${operands.map(sig).join(', ')})`);
  const parsed = terms.map((t, i) => parseTerm(equation, t, `subscript of operand ${i}`));
  let ellRank = 0;
  parsed.forEach((p, i) => {
    const t = operands[i]!;
    const need = p.letters.length;
    if (p.ellAt < 0 ? t.ndim !== need : t.ndim < need)
      throw new ShapeError(
        `einsum: '${equation}': subscript '${terms[i]}' of operand ${i} names ${need} dim${need === 1 ? '' : 's'}${p.ellAt >= 0 ? ' plus an ellipsis' : ''} but operand ${i} is ${sig(t)} with ${t.ndim} dim${t.ndim === 1 ? '' : 's'}`,
      );
    if (p.ellAt >= 0) ellRank = Math.max(ellRank, t.ndim - need);
  });
  const inputs = parsed.map((p, i) => {
    if (p.ellAt < 0) return p.letters;
    const e = operands[i]!.ndim - p.letters.length;
    const ell = Array.from({ length: e }, (_, k) => ELL + ellRank - e + k);
    return [...p.letters.slice(0, p.ellAt), ...ell, ...p.letters.slice(p.ellAt)];
  });
  const sizes = new Map<number, number>();
  const seenAt = new Map<number, string>();
  inputs.forEach((labels, i) => {
    const t = operands[i]!;
    labels.forEach((l, d) => {
      const n = t.shape[d]!;
      const prev = sizes.get(l);
      // A label repeated inside one operand is a diagonal: sizes must agree exactly there.
      const sameOperandRepeat = labels.indexOf(l) !== d;
      if (prev === undefined || (prev === 1 && !sameOperandRepeat)) {
        sizes.set(l, n);
        seenAt.set(l, `operand ${i} dim ${d}`);
      } else if (n !== prev && (sameOperandRepeat || n !== 1))
        throw new ShapeError(
          `einsum: '${equation}': label '${labelName(l)}' has size ${prev} at ${seenAt.get(l)} but size ${n} at operand ${i} dim ${d} (${sig(t)}); sizes of one label must match or be 1`,
        );
    });
  });
  const anyEll = parsed.some((p) => p.ellAt >= 0);
  let output: number[];
  if (arrow >= 0) {
    const rhs = eq.slice(arrow + 2);
    const p = parseTerm(equation, rhs, 'output subscript');
    if (p.ellAt >= 0 && !anyEll) throw new ShapeError(`einsum: '${equation}': the output has an ellipsis but no input does`);
    const ell = Array.from({ length: ellRank }, (_, k) => ELL + k);
    output = p.ellAt < 0 ? p.letters : [...p.letters.slice(0, p.ellAt), ...ell, ...p.letters.slice(p.ellAt)];
    const seen = new Set<number>();
    for (const l of p.letters) {
      if (seen.has(l)) throw new ShapeError(`einsum: '${equation}': output subscript '${labelName(l)}' appears more than once`);
      seen.add(l);
      if (!sizes.has(l)) throw new ShapeError(`einsum: '${equation}': output subscript '${labelName(l)}' does not appear in any input subscript`);
    }
  } else {
    // Implicit output (PyTorch's rule): the ellipsis dims, then the letters used exactly once, in ASCII order.
    const count = new Map<number, number>();
    for (const labels of inputs) for (const l of labels) if (l < ELL) count.set(l, (count.get(l) ?? 0) + 1);
    const once = [...count].filter(([, c]) => c === 1).map(([l]) => l).sort((a, b) => a - b);
    output = [...Array.from({ length: ellRank }, (_, k) => ELL + k), ...once];
  }
  return { inputs, output, sizes };
}

/** A view of `t` that takes the diagonal over repeated labels (their strides add up), so labels are unique. */
function diagonalView(t: Tensor, labels: readonly number[]): { t: Tensor; labels: number[] } {
  const out: number[] = [];
  const shape: number[] = [];
  const strides: number[] = [];
  labels.forEach((l, d) => {
    const j = out.indexOf(l);
    if (j >= 0) strides[j]! += t.strides[d]!;
    else {
      out.push(l);
      shape.push(t.shape[d]!);
      strides.push(t.strides[d]!);
    }
  });
  if (out.length === labels.length) return { t, labels: out };
  return { t: new Tensor(t.storage, shape, strides, t.offset), labels: out };
}

/** Sum `t` over the listed labels, keeping its dtype (torch.sum would widen integers to int64). */
function sumLabels(t: Tensor, labels: number[], drop: readonly number[]): { t: Tensor; labels: number[] } {
  const dims = labels.map((l, d) => (drop.includes(l) ? d : -1)).filter((d) => d >= 0);
  if (!dims.length) return { t, labels };
  const s = sum(t, dims, false);
  return { t: s.dtype === t.dtype ? s : s.to(t.dtype), labels: labels.filter((l) => !drop.includes(l)) };
}

/**
 * Contract two operands with unique labels: shared labels still needed later are batch dims, shared ones
 * not needed are summed by the matmul, the rest are the matmul's rows and columns.
 *   A -> [batch, aOnly, k] -> (Bt, M, K);  B -> [batch, k, bOnly] -> (Bt, K, N);  A @ B -> [batch, aOnly, bOnly]
 */
function contract(a: { t: Tensor; labels: number[] }, b: { t: Tensor; labels: number[] }, needed: ReadonlySet<number>, sizes: ReadonlyMap<number, number>) {
  const inB = new Set(b.labels);
  const inA = new Set(a.labels);
  const batch = a.labels.filter((l) => inB.has(l) && needed.has(l));
  const k = a.labels.filter((l) => inB.has(l) && !needed.has(l));
  const aOnly = a.labels.filter((l) => !inB.has(l));
  const bOnly = b.labels.filter((l) => !inA.has(l));
  const size = (ls: readonly number[]) => ls.reduce((p, l) => p * sizes.get(l)!, 1);
  const arrange = (x: { t: Tensor; labels: number[] }, order: number[]) =>
    x.t.permute(order.map((l) => x.labels.indexOf(l))).expand(order.map((l) => sizes.get(l)!));
  const A = arrange(a, [...batch, ...aOnly, ...k]).reshape([size(batch), size(aOnly), size(k)]); // (Bt, M, K)
  const B = arrange(b, [...batch, ...k, ...bOnly]).reshape([size(batch), size(k), size(bOnly)]); // (Bt, K, N)
  const labels = [...batch, ...aOnly, ...bOnly];
  return { t: matmul(A, B).reshape(labels.map((l) => sizes.get(l)!)), labels };
}

export type EinsumInputs = { readonly operands: readonly Tensor[] };
export type EinsumAttrs = { readonly equation: string };

/** torch.einsum: PyTorch's subscripts (letters, one '...' per term, implicit or explicit output). */
export const Einsum = defineOp<EinsumInputs, EinsumAttrs>({
  name: 'Einsum',
  meta({ operands }, { equation }) {
    if (operands.length === 0) throw new ShapeError(`einsum: '${equation}' needs at least one operand`);
    sameDType('einsum', operands);
    const plan = parseEinsum(equation, operands);
    return [{ shape: plan.output.map((l) => plan.sizes.get(l)!), dtype: operands[0]!.dtype }];
  },
  decompose({ operands }, { equation }) {
    const plan = parseEinsum(equation, operands);
    const { sizes } = plan;
    const ops = operands.map((t, i) => diagonalView(t, plan.inputs[i]!));
    const laterLabels = (from: number) => {
      const s = new Set<number>(plan.output);
      for (let j = from; j < ops.length; j++) for (const l of ops[j]!.labels) s.add(l);
      return s;
    };
    // Labels only one operand has and the output lacks are summed first (cheapest place to drop them).
    for (let i = 0; i < ops.length; i++) {
      const others = new Set<number>(plan.output);
      ops.forEach((o, j) => j !== i && o.labels.forEach((l) => others.add(l)));
      ops[i] = sumLabels(ops[i]!.t, ops[i]!.labels, ops[i]!.labels.filter((l) => !others.has(l)));
    }
    let cur = ops[0]!;
    for (let i = 1; i < ops.length; i++) cur = contract(cur, ops[i]!, laterLabels(i + 1), sizes);
    // Broadcast size-1 dims to the label's size, then order as the output asks.
    const t = cur.t.permute(plan.output.map((l) => cur.labels.indexOf(l))).expand(plan.output.map((l) => sizes.get(l)!));
    // A single operand that was only permuted or diagonalised is still a view of it: return a copy.
    return [t.storage === operands[0]!.storage ? t.clone() : t];
  },
});

/** torch.einsum('ij,jk->ik', a, b) as einsum('ij,jk->ik', a, b) (or with the operands in one list). */
export function einsum(equation: string, ...operands: Tensor[] | [readonly Tensor[]]): Tensor {
  const list = (operands.length === 1 && Array.isArray(operands[0]) ? operands[0] : operands) as readonly Tensor[];
  if (typeof equation !== 'string') throw new DTypeError(`einsum: the equation must be a string, got ${typeof equation}`);
  return dispatch(Einsum, { operands: list.map((t, i) => requireTensor('einsum', `operand ${i}`, t)) }, { equation });
}

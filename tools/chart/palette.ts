/**
 * One colour per backend in every chart (a reader learns "orange is ort" once), and one marker shape per op
 * family, so points stay distinguishable in a PNG where the SVG's hover text is gone. Colours are Okabe–Ito
 * (colour-blind safe); series that are not backends (dispatch policies, roofs) take the remaining colours in
 * order of appearance.
 */

export type Marker = 'circle' | 'square' | 'triangle' | 'diamond' | 'triangle-down' | 'cross' | 'plus';

/** Fixed colours: backends, the decomposition pseudo-backend and the peers measured beside opshift. */
export const BACKEND_COLORS: Readonly<Record<string, string>> = {
  cpu: '#0072B2',
  wasm: '#009E73',
  ort: '#D55E00',
  npu: '#CC79A7',
  decompose: '#8C8C8C',
  PyTorch: '#000000',
  'llama.cpp': '#E69F00',
};

/** Colours for series that are not backends, in order (none of them a backend's). */
export const OTHER_COLORS: readonly string[] = ['#56B4E9', '#882255', '#117733', '#DDAA33', '#332288', '#AA4499', '#44AA99', '#999933'];

/** The fixed colour of a backend or peer series ("PyTorch 2.6 …" counts as PyTorch), else undefined. */
export function backendColor(name: string): string | undefined {
  if (BACKEND_COLORS[name]) return BACKEND_COLORS[name];
  const peer = ['PyTorch', 'llama.cpp'].find((k) => name.startsWith(`${k} `));
  return peer ? BACKEND_COLORS[peer] : undefined;
}

/** Colours for a chart's series names: backends keep theirs; the others take OTHER_COLORS in order. */
export function colorMap(names: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  let k = 0;
  for (const n of names) {
    if (out.has(n)) continue;
    out.set(n, backendColor(n) ?? OTHER_COLORS[k++ % OTHER_COLORS.length]!);
  }
  return out;
}

/** Op families and their markers: GEMMs, elementwise binary, unary, softmax/norms, reductions, the rest. */
const FAMILIES: readonly { readonly name: string; readonly marker: Marker; readonly ops: RegExp }[] = [
  { name: 'GEMM (MatMul, Linear…)', marker: 'circle', ops: /^(MatMul|Linear|LinearW8A8|LinearW4|Bmm|Gemm)$/ },
  { name: 'elementwise binary', marker: 'square', ops: /^(Add|Sub|Mul|Div|Pow|Maximum|Minimum|Where)$/ },
  { name: 'elementwise unary', marker: 'triangle-down', ops: /^(Neg|Abs|Relu|Exp|Log|Sqrt|Rsqrt|Tanh|Sigmoid|Erf|Cos|Sin|Silu|Gelu|Cast)$/ },
  { name: 'softmax / norms', marker: 'triangle', ops: /^(Softmax|LogSoftmax|LayerNorm|RmsNorm)$/ },
  { name: 'reductions', marker: 'diamond', ops: /^(Sum|Mean|Max|Min|ArgMax|ArgMin|Prod)$/ },
  { name: 'attention / rope', marker: 'cross', ops: /^(Attention|Sdpa|ScaledDotProductAttention|Rope|RotaryEmbedding)$/i },
];
const OTHER_FAMILY = { name: 'other ops', marker: 'plus' as Marker };

/** The marker and family name of an op (by OpDef name). */
export function markerFor(op: string): { readonly marker: Marker; readonly family: string } {
  const f = FAMILIES.find((x) => x.ops.test(op)) ?? OTHER_FAMILY;
  return { marker: f.marker, family: f.name };
}

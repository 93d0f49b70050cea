/**
 * Makes an exported causal LM honour its attention_mask and position_ids inputs.
 *
 * The models compute positions and padding masks from attention_mask in JavaScript (models/attention_mask.ts),
 * which a trace cannot follow, so exportOnnx traces the unpadded path (all-ones mask, positions past..past+T-1)
 * and this pass rewrites the three places where that path assumed it, keeping eager code untouched:
 *  - rotary tables: the slice `table[past : past+T]` feeding Rope's cos/sin becomes a Gather of the table's rows
 *    at position_ids ([B, T] → cos/sin [B, 1, T, rot], per row as the eager padded path computes them);
 *  - learned positions (OPT): the Range `past+2 .. past+T+2` feeding the position Embedding becomes
 *    position_ids + 2, as Hugging Face's OPTLearnedPositionalEmbedding does with given position_ids
 *    (Optimum's OPT export takes position_ids too);
 *  - attention: every Attention node also reads attention_mask as a key-padding mask, and gets its layer's
 *    sliding window (lowered in lower_ops.ts exactly as attentionPlan builds the eager mask: causal, keys in
 *    the window, padded keys hidden, each query sees itself).
 */
import { ExportError, formatDim, formatShapeDims, isExpr, type Dim, type Graph, type GraphNode, type GraphValue } from './graph.js';

/** The op names this pass introduces (lowered in lower_ops.ts). */
export const GATHER_ROWS = 'export.GatherRows';
export const POSITION_IDS = 'export.PositionIds';

const sameDim = (a: Dim | undefined, b: Dim | undefined) => a !== undefined && b !== undefined && formatDim(a) === formatDim(b);

/**
 * The rewritten graph. A graph without attention_mask/position_ids inputs (a plain trace()) is returned as is;
 * a graph whose positions or keys do not come from the patterns above fails naming the node.
 */
export function bindMaskAndPositions(graph: Graph, windows: readonly (number | undefined)[] = []): Graph {
  const maskId = graph.inputs.find((i) => i.name === 'attention_mask')?.id;
  const posId = graph.inputs.find((i) => i.name === 'position_ids')?.id;
  if (maskId === undefined || posId === undefined) return graph;
  const values: GraphValue[] = [...graph.values];
  const nodes: GraphNode[] = [...graph.nodes];
  const pos = values[posId]!;
  const [B, T] = pos.shape as [Dim, Dim];
  const producer = new Map<number, number>();
  nodes.forEach((n, k) => n.outputs.forEach((o) => producer.set(o, k)));
  const readers = new Map<number, string[]>();
  for (const n of nodes)
    for (const [key, v] of Object.entries(n.inputs)) for (const id of typeof v === 'number' ? [v] : (v ?? [])) readers.set(id, [...(readers.get(id) ?? []), `${n.op}.${key}`]);

  // Rotary tables: Rope(cos = table[past : past+T]) → Rope(cos = Gather(table, position_ids)).
  const rewritten = new Set<number>();
  nodes.forEach((n, k) => {
    if (n.op !== 'Rope') return;
    for (const key of ['cos', 'sin']) {
      const id = n.inputs[key] as number;
      if (rewritten.has(id)) continue;
      const p = producer.get(id);
      const slice = p === undefined ? undefined : nodes[p]!;
      const table = slice?.op === 'view.slice' ? values[slice.inputs.x as number] : undefined;
      if (!slice || !table || table.source.kind !== 'const' || slice.attrs.dim !== 0 || slice.attrs.step !== 1 || !sameDim(slice.attrs.length as Dim, T))
        throw new ExportError(
          `export: Rope (node ${k}) takes its ${key} from ${slice ? `${slice.op} ${formatShapeDims(values[id]!.shape)}` : 'a graph input'}, not from T rows of a constant table: the graph cannot select rows by position_ids`,
        );
      const others = (readers.get(id) ?? []).filter((r) => r !== 'Rope.cos' && r !== 'Rope.sin');
      if (others.length > 0) throw new ExportError(`export: the rotary ${key} rows (node ${p}) are also read by ${others.join(', ')}; only Rope may read per-row tables`);
      const rot = table.shape[1]!;
      values[id] = { ...values[id]!, shape: [B, 1, T, rot] }; // (B, 1, T, rot): broadcast over heads
      nodes[p!] = { op: GATHER_ROWS, inputs: { table: slice.inputs.x, positions: posId }, attrs: {}, outputs: [id] };
      rewritten.add(id);
    }
  });

  // Learned positions: Embedding(indices = Range(past + c, T)) → Embedding(indices = position_ids + c).
  const before = new Map<number, GraphNode>(); // node k → a node to emit just before it
  nodes.forEach((n, k) => {
    if (n.op !== 'Embedding') return;
    const idx = values[n.inputs.indices as number]!;
    if (idx.source.kind !== 'range') return;
    const { start, length } = idx.source.range;
    const past = values.find((v) => v.source.kind === 'input' && v.source.name === 'past_key_values.0.key');
    // start is past + c with a cache (past = past_key_values.0.key[2]), c without one.
    let offset: number | undefined;
    if (!isExpr(start)) offset = start;
    else if (past && start.scale === 1 && start.dims.length === 1 && start.dims[0]!.input === 'past_key_values.0.key' && start.dims[0]!.axis === 2) offset = start.offset;
    if (offset === undefined || !sameDim(length, T))
      throw new ExportError(`export: Embedding (node ${k}) reads positions ${formatDim(start)} .. +${formatDim(length)}, not the new tokens' positions: the graph cannot take position_ids there`);
    const id = values.length;
    values.push({ id, shape: [B, T], dtype: 'int64', source: { kind: 'node', node: k } }); // node index: informational only
    const out = n.outputs[0]!;
    values[out] = { ...values[out]!, shape: [B, T, ...values[out]!.shape.slice(1)] };
    nodes[k] = { ...n, inputs: { ...n.inputs, indices: id } };
    before.set(k, { op: POSITION_IDS, inputs: { positions: posId }, attrs: { offset }, outputs: [id] });
  });

  // Key padding: each Attention reads attention_mask over its keys (past + new); layer i's sliding window (the
  // i-th Attention) hides keys at or before position - window.
  const attentions = nodes.filter((n) => n.op === 'Attention').length;
  if (windows.some((w) => w !== undefined) && attentions !== windows.length)
    throw new ExportError(`export: ${attentions} Attention ops traced for ${windows.length} layers with sliding windows: cannot tell which window each one has`);
  let layer = 0;
  nodes.forEach((n, k) => {
    if (n.op !== 'Attention') return;
    const S = values[n.inputs.k as number]!.shape.at(-2);
    const mask = values[maskId]!.shape[1];
    if (!sameDim(S, mask))
      throw new ExportError(`export: Attention (node ${k}) reads ${S === undefined ? '?' : formatDim(S)} keys, attention_mask covers ${formatDim(mask!)}: the key-padding mask cannot be applied`);
    const window = windows[layer++];
    nodes[k] = { ...n, inputs: { ...n.inputs, keyMask: maskId }, attrs: window === undefined ? n.attrs : { ...n.attrs, window } };
  });

  const ordered: GraphNode[] = [];
  nodes.forEach((n, k) => {
    const e = before.get(k);
    if (e) ordered.push(e);
    ordered.push(n);
  });
  return { ...graph, values, nodes: ordered };
}


/**
 * Which linears a recipe touches (include/exclude patterns over module paths), and the groups of linears that
 * share one input together with the op before them (the norm, or a linear whose output feeds them), which is
 * where SmoothQuant and AWQ fold their per-channel scales.
 */
import { ArgumentError } from '../../core/errors.js';
import type { CausalLM } from '../causal_lm.js';
import { LayerNorm, Linear, RMSNorm } from '../nn/layers.js';
import type { Module } from '../nn/module.js';

/**
 * A pattern matches a module path when it is a run of whole dotted parts of it (`lm_head`, `q_proj`,
 * `mlp.down_proj`, `mlp`, `model.layers.0`), or a glob over the whole path (`*` = any characters, dots included).
 */
export function matchesPattern(path: string, pattern: string): boolean {
  if (pattern.includes('*')) {
    const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
    return re.test(path);
  }
  return `.${path}.`.includes(`.${pattern}.`);
}

export interface Selection {
  /** Linears the recipe quantizes (float Linear modules only). */
  readonly include?: readonly string[];
  /** Linears left in float; default ['lm_head'] (a tied head is not a Linear and is never touched). */
  readonly exclude?: readonly string[];
}

export const DEFAULT_EXCLUDE: readonly string[] = ['lm_head'];

/** Every float Linear with its path, parent and name in the parent. */
export function linearModules(model: Module): { path: string; linear: Linear; parent: Module; name: string }[] {
  const out: { path: string; linear: Linear; parent: Module; name: string }[] = [];
  for (const m of model.namedModules()) if (m.module instanceof Linear && m.parent) out.push({ path: m.path, linear: m.module, parent: m.parent, name: m.name });
  return out;
}

/** The paths of the float linears selected by include/exclude. */
export function selectLinears(model: Module, sel: Selection = {}): string[] {
  const exclude = sel.exclude ?? DEFAULT_EXCLUDE;
  const paths = linearModules(model).map((l) => l.path);
  // An include that matches nothing is a typo; an exclude that matches nothing is harmless (`--exclude lm_head`
  // on a model whose head is tied to the embedding).
  for (const p of sel.include ?? [])
    if (!paths.some((path) => matchesPattern(path, p)))
      throw new ArgumentError(`quantize: pattern '${p}' matches no Linear (linears: ${paths.slice(0, 6).join(', ')}${paths.length > 6 ? ', …' : ''})`);
  return paths.filter((p) => (sel.include === undefined || sel.include.some((i) => matchesPattern(p, i))) && !exclude.some((e) => matchesPattern(p, e)));
}

export function moduleAt(model: Module, path: string): Module {
  for (const m of model.namedModules()) if (m.path === path) return m.module;
  throw new ArgumentError(`no module at '${path}'`);
}

export type Prev = { readonly kind: 'norm'; readonly path: string; readonly module: LayerNorm | RMSNorm } | { readonly kind: 'linear'; readonly path: string; readonly module: Linear };

/** Linears that read the same input, and the op that produces it (folding target). */
export interface ScaleGroup {
  readonly prev: Prev;
  readonly fcs: readonly string[];
}

/**
 * The groups of OPT (pre-LN) and Llama layers, as SmoothQuant and AWQ pair them:
 * norm → q,k,v; norm → fc1 (OPT) or gate,up (Llama); and, for AWQ, v → out/o_proj (when every head has its own
 * v: a grouped-query v is shared and cannot carry per-head scales), fc1 → fc2 (ReLU commutes with a positive
 * scale) and up → down (SiLU(gate)·up is linear in up). `withLinearPrev` false gives only the norm groups.
 */
export function scaleGroups(model: CausalLM, withLinearPrev: boolean): ScaleGroup[] {
  const c = model.config;
  const groups: ScaleGroup[] = [];
  const norm = (path: string): Prev => {
    const m = moduleAt(model, path);
    if (!(m instanceof LayerNorm || m instanceof RMSNorm)) throw new ArgumentError(`${path} is not a norm`);
    return { kind: 'norm', path, module: m };
  };
  const lin = (path: string): Prev | undefined => {
    const m = moduleAt(model, path);
    return m instanceof Linear ? { kind: 'linear', path, module: m } : undefined;
  };
  const add = (prev: Prev | undefined, fcs: string[]) => {
    if (prev && fcs.every((f) => moduleAt(model, f) instanceof Linear)) groups.push({ prev, fcs });
  };
  if (c.modelType !== 'opt' && c.fusedProjections) {
    // Phi-3: the fused qkv_proj and gate_up_proj read the norms' outputs. The v → o and up → down folds need
    // output channels of one fused linear scaled apart from the rest, which a per-input-channel fold cannot do.
    for (let i = 0; i < c.numLayers; i++) {
      const p = `model.layers.${i}.`;
      add(norm(`${p}input_layernorm`), [`${p}self_attn.qkv_proj`]);
      add(norm(`${p}post_attention_layernorm`), [`${p}mlp.gate_up_proj`]);
    }
  } else if (c.modelType !== 'opt') {
    // Llama, Mistral, Qwen2 (whose q/k/v biases are untouched by an input-channel fold).
    for (let i = 0; i < c.numLayers; i++) {
      const p = `model.layers.${i}.`;
      add(norm(`${p}input_layernorm`), [`${p}self_attn.q_proj`, `${p}self_attn.k_proj`, `${p}self_attn.v_proj`]);
      if (withLinearPrev && c.numKvHeads === c.numHeads) add(lin(`${p}self_attn.v_proj`), [`${p}self_attn.o_proj`]);
      add(norm(`${p}post_attention_layernorm`), [`${p}mlp.gate_proj`, `${p}mlp.up_proj`]);
      if (withLinearPrev) add(lin(`${p}mlp.up_proj`), [`${p}mlp.down_proj`]);
    }
  } else {
    if (!c.layerNormBefore) throw new ArgumentError('smoothing and AWQ scales fold into the norm before the linears; this OPT is post-LN (do_layer_norm_before false): use w8a8 or pergrp');
    for (let i = 0; i < c.numLayers; i++) {
      const p = `model.decoder.layers.${i}.`;
      add(norm(`${p}self_attn_layer_norm`), [`${p}self_attn.q_proj`, `${p}self_attn.k_proj`, `${p}self_attn.v_proj`]);
      if (withLinearPrev) add(lin(`${p}self_attn.v_proj`), [`${p}self_attn.out_proj`]);
      add(norm(`${p}final_layer_norm`), [`${p}fc1`]);
      if (withLinearPrev) add(lin(`${p}fc1`), [`${p}fc2`]);
    }
  }
  return groups;
}

/**
 * Prompts for a served model without a tokenizer (`synthetic:<preset>`: real shapes, random weights, no
 * tokenizer files). Such a server only takes token ids (/v1/completions with `prompt: [ids]`, as OpenAI allows)
 * and streams ids back as text ("17 4021 9"). bench serve then sends each prompt's UTF-8 bytes as Llama's
 * byte-fallback tokens (`<0xNN>` is id NN + 3 in the Llama/TinyLlama vocabulary): the prompt lengths are those
 * of the text as bytes, and no real tokenizer is pretended. With random weights the generated ids are noise
 * either way; what the run measures is the serving work (prefill length, decode steps, batching).
 */

/** Id of byte 0x00's token (`<0x00>`) in the Llama vocabulary: after <unk>, <s>, </s>. */
export const BYTE_TOKEN_BASE = 3;

/** `text` as Llama byte tokens: one id per UTF-8 byte. */
export function byteTokenIds(text: string): number[] {
  return Array.from(new TextEncoder().encode(text), (b) => b + BYTE_TOKEN_BASE);
}

/** The ids a tokenizer-less server streamed back as text (space-separated decimal ids). */
export function parseStreamedIds(text: string): number[] {
  const parts = text.trim().split(/\s+/).filter(Boolean);
  const ids = parts.map(Number);
  const bad = parts.find((_, i) => !Number.isInteger(ids[i]) || ids[i]! < 0);
  if (bad !== undefined) throw new Error(`bench serve: a tokenizer-less server streamed '${bad}', not a token id (text: '${text.slice(0, 80)}')`);
  return ids;
}

/**
 * Whether the server at `url` needs token-id prompts: it answers a one-token text completion with 400
 * `no_tokenizer` (scheduler_intake.ts). Any other answer (200, or an error of another kind) means text works or
 * the problem is elsewhere, and the run's own requests will report it.
 */
export async function needsTokenIds(url: string, model: string, apiKey: string | undefined, signal: AbortSignal): Promise<boolean> {
  const res = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) },
    body: JSON.stringify({ model, prompt: 'a', max_tokens: 1, temperature: 0 }),
    signal,
  });
  const body = (await res.json().catch(() => ({}))) as { error?: { code?: unknown } };
  return res.status === 400 && body.error?.code === 'no_tokenizer';
}

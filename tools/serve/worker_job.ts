/**
 * One request, inside the model worker: chat template (under its budget), tokenization, the prompt and
 * context-length checks, then chunked generation with stop strings and streamed text. Client errors are
 * posted as `rejected` (a 4xx, before anything was accepted); only a failure of the model itself is `failed`.
 * The untrusted phases announce themselves (`phase`) so the HTTP thread's watchdog can time them and kill
 * this worker if a template or a tokenizer regex never returns.
 */
import { withPolicy, type Policy } from '../../core/policy.js';
import { profile } from '../../core/profiler.js';
import type { CausalLM } from '../../models/causal_lm.js';
import { checkContextLength, ContextLengthError } from '../../models/generate.js';
import type { SamplingOptions } from '../../models/sampling.js';
import { TemplateBudgetError, TemplateRaiseError, TemplateRenderError, type HfTokenizer } from '../../models/tokenizer.js';
import { chunkedTokens, liveChunkedCaches } from './chunked_generate.js';
import type { ClientError, FinishReason, FromWorker, JobMessage } from './protocol.js';
import type { ChatMessage } from './requests.js';

export interface WorkerContext {
  readonly model: CausalLM;
  readonly tokenizer: HfTokenizer | undefined;
  readonly policy: Policy | undefined;
  readonly prefillChunk: number;
  readonly templateTimeoutMs: number;
  readonly templateMaxBytes: number;
}

/** Thrown inside the job to end it with a 4xx. */
class Rejection extends Error {
  constructor(readonly error: ClientError) {
    super(error.message);
  }
}

const reject = (message: string, param: string | null, code: string, status = 400): Rejection => new Rejection({ status, message, param, code });

/** Without a chat template (base models such as the demo ones), messages are joined as plain text. */
function plainChat(messages: readonly ChatMessage[]): string {
  return messages.map((m) => m.content).join('\n') + '\n';
}

/** Length of the longest suffix of `text` that is a proper prefix of some stop string (text to hold back). */
export function pendingStopPrefix(text: string, stops: readonly string[]): number {
  let keep = 0;
  for (const s of stops)
    for (let n = Math.min(s.length - 1, text.length); n > keep; n--)
      if (text.endsWith(s.slice(0, n))) {
        keep = n;
        break;
      }
  return keep;
}

/**
 * OpenAI semantics mapped onto the sampler: temperature 0 (or none) and top_p 0 are greedy (top_p 0 keeps
 * only the most likely token); a seed is any integer, reduced to its low 32 bits (two's complement), which
 * is all the mt19937 generator uses.
 */
export function samplingFor(job: Pick<JobMessage, 'temperature' | 'topP' | 'seed'>): SamplingOptions {
  const greedy = !job.temperature || job.topP === 0;
  const seed = job.seed === undefined ? undefined : Number(BigInt.asUintN(32, BigInt(job.seed)));
  return greedy ? { greedy: true, seed } : { temperature: job.temperature, topP: job.topP, seed };
}

function promptIds(ctx: WorkerContext, job: JobMessage, post: (m: FromWorker) => void): number[] {
  const p = job.prompt;
  const param = p.kind === 'chat' ? 'messages' : 'prompt';
  if (p.kind === 'ids') {
    const V = ctx.model.config.vocabSize;
    const bad = p.ids.find((v) => v >= V);
    if (bad !== undefined) throw reject(`prompt token id ${bad} is outside the vocabulary [0, ${V})`, 'prompt', 'invalid_token_id');
    return [...p.ids];
  }
  const tok = ctx.tokenizer;
  if (!tok) throw reject('this model has no tokenizer: send the prompt as a list of token ids to /v1/completions', param, 'no_tokenizer');
  let text: string;
  let special = true;
  if (p.kind === 'chat' && tok.chatTemplate !== undefined) {
    post({ type: 'phase', id: job.id, phase: 'template' });
    try {
      text = tok.applyChatTemplate(p.messages.map((m) => ({ ...m })), { addGenerationPrompt: true, budget: { timeMs: ctx.templateTimeoutMs, maxBytes: ctx.templateMaxBytes } });
    } catch (e) {
      if (e instanceof TemplateBudgetError) throw reject(`${e.message} (--template-timeout-ms ${ctx.templateTimeoutMs}, --template-max-bytes ${ctx.templateMaxBytes})`, 'messages', 'template_budget_exceeded');
      if (e instanceof TemplateRaiseError || e instanceof TemplateRenderError) throw reject(e.message, 'messages', 'template_error');
      throw e;
    }
    special = false; // templates add BOS themselves
  } else text = p.kind === 'chat' ? plainChat(p.messages) : p.text;
  // Tokenizing a long text takes seconds; a text too long for the prompt limit is refused without it.
  if (text.length > job.maxPromptTokens * tok.maxTokenChars)
    throw reject(
      `the prompt is ${text.length} characters, more than ${job.maxPromptTokens} tokens (--max-prompt-tokens) can cover with this tokenizer's longest token (${tok.maxTokenChars} characters)`,
      param,
      'prompt_too_long',
    );
  post({ type: 'phase', id: job.id, phase: 'tokenize' });
  return tok.encode(text, { addSpecialTokens: special });
}

/** Checks the prompt against the limits and resolves max_tokens (the request's, or what the context leaves). */
function admit(ctx: WorkerContext, job: JobMessage, ids: readonly number[]): number {
  const param = job.prompt.kind === 'chat' ? 'messages' : 'prompt';
  const n = ids.length;
  if (n === 0) throw reject('the prompt encodes to no tokens', param, 'empty_prompt');
  if (n > job.maxPromptTokens) throw reject(`the prompt is ${n} tokens, over the server's limit of ${job.maxPromptTokens} (--max-prompt-tokens)`, param, 'prompt_too_long');
  // The context rule is generate.ts's (checkContextLength); the default max_tokens is what the context leaves.
  const maxTokens = job.maxTokens ?? Math.max(1, Math.min(job.maxTokensCap, ctx.model.config.maxPositions - n));
  try {
    checkContextLength(ctx.model, n, maxTokens);
  } catch (e) {
    if (!(e instanceof ContextLengthError)) throw e;
    const message =
      job.maxTokens === undefined
        ? `the prompt (${n} tokens) leaves no room in the model's ${e.maxPositions} positions`
        : `prompt (${n} tokens) + max_tokens (${maxTokens}) exceed the model's ${e.maxPositions} positions`;
    throw reject(message, job.maxTokens === undefined ? param : 'max_tokens', 'context_length_exceeded');
  }
  return maxTokens;
}

/** Runs one job to its end, posting everything it produces. `cancelled()` is polled between chunks and tokens. */
export function runJob(ctx: WorkerContext, job: JobMessage, post: (m: FromWorker) => void, cancelled: () => boolean): void {
  let prompt: number[];
  let maxTokens: number;
  try {
    prompt = promptIds(ctx, job, post);
    maxTokens = admit(ctx, job, prompt);
  } catch (e) {
    if (e instanceof Rejection) post({ type: 'rejected', id: job.id, error: e.error });
    // Anything else while preparing the prompt is the tokenizer failing on this input: still the client's text.
    else post({ type: 'rejected', id: job.id, error: { status: 400, message: `cannot tokenize the prompt: ${(e as Error).message}`, param: null, code: 'tokenizer_error' } });
    return;
  }
  post({ type: 'accepted', id: job.id, promptTokens: prompt.length, maxTokens });

  const backendMs: Record<string, number> = {};
  /** One generator step under the server's dispatch policy, its op time added per backend. */
  const step = <T>(fn: () => T): T => {
    const run = ctx.policy ? () => withPolicy(ctx.policy!, fn) : fn;
    const p = profile(run);
    for (const r of p.records) if (r.depth === 0) backendMs[r.backend] = (backendMs[r.backend] ?? 0) + r.ms;
    return p.result;
  };
  const decoder = ctx.tokenizer?.streamDecoder({ skipSpecialTokens: true, context: prompt });
  let text = '';
  let emitted = 0;
  let finishReason: FinishReason = 'length';
  let count = 0;
  let prefilled = 0;
  let ttft = 0;
  const t0 = performance.now();
  const it = chunkedTokens(ctx.model, prompt, { maxNewTokens: maxTokens, chunk: ctx.prefillChunk, sampling: samplingFor(job) });
  try {
    for (;;) {
      if (cancelled()) {
        finishReason = 'cancelled';
        break;
      }
      const s = step(() => it.next());
      if (s.done) break;
      if (s.value.kind === 'prefill') {
        prefilled = s.value.done;
        continue;
      }
      count++;
      if (count === 1) ttft = performance.now() - t0;
      if (s.value.eos) {
        finishReason = 'stop';
        break;
      }
      // Without a tokenizer (ids in, ids out) the text is the ids, space-separated.
      text += decoder ? decoder.push(s.value.id) : `${count > 1 ? ' ' : ''}${s.value.id}`;
      const hit = job.stop.map((x) => text.indexOf(x)).filter((i) => i >= 0);
      if (hit.length > 0) {
        text = text.slice(0, Math.min(...hit));
        finishReason = 'stop';
        break;
      }
      const safe = text.length - pendingStopPrefix(text, job.stop);
      if (safe > emitted) {
        post({ type: 'text', id: job.id, text: text.slice(emitted, safe) });
        emitted = safe;
      }
    }
    if (finishReason === 'length' && decoder) text += decoder.flush();
  } catch (e) {
    it.return();
    post({ type: 'failed', id: job.id, message: (e as Error).message, liveKvCaches: liveChunkedCaches() });
    return;
  }
  it.return(); // releases the KV cache when we stopped early
  if (finishReason !== 'cancelled' && text.length > emitted) post({ type: 'text', id: job.id, text: text.slice(emitted) });
  const decodeMs = count > 1 ? performance.now() - t0 - ttft : 0;
  post({
    type: 'done',
    id: job.id,
    result: { text, finishReason, promptTokens: prompt.length, prefilled, completionTokens: count, ttftMs: ttft, decodeMs, backendMs },
    liveKvCaches: liveChunkedCaches(),
  });
}

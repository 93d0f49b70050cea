/**
 * A request's intake in the model worker, before it joins the batch: chat template (under its budget),
 * tokenization, the prompt and context-length checks. Client errors are thrown as Rejection (a 4xx, posted before
 * anything was accepted). The untrusted phases announce themselves (`phase`) so the HTTP thread's watchdog can
 * time them and kill this worker if a template or a tokenizer regex never returns.
 */
import type { Policy } from '../../core/policy.js';
import type { CausalLM } from '../../models/causal_lm.js';
import { checkContextLength, ContextLengthError } from '../../models/generate.js';
import type { SamplingOptions } from '../../models/sampling.js';
import { TemplateBudgetError, TemplateRaiseError, TemplateRenderError, type HfTokenizer } from '../../models/tokenizer.js';
import type { ClientError, FromWorker, JobMessage } from './protocol.js';
import type { ChatMessage } from './requests.js';

export interface WorkerContext {
  readonly model: CausalLM;
  readonly tokenizer: HfTokenizer | undefined;
  readonly policy: Policy | undefined;
  readonly prefillChunk: number;
  readonly templateTimeoutMs: number;
  readonly templateMaxBytes: number;
  /** KV cache budget, MiB (default: limits.ts's --kv-cache-mb default). */
  readonly kvCacheMb?: number;
}

/** Thrown during intake to end the job with a 4xx. */
export class Rejection extends Error {
  constructor(readonly error: ClientError) {
    super(error.message);
  }
}

export const reject = (message: string, param: string | null, code: string, status = 400): Rejection => new Rejection({ status, message, param, code });

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

export function promptIds(ctx: WorkerContext, job: JobMessage, post: (m: FromWorker) => void): number[] {
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
export function admit(ctx: WorkerContext, job: JobMessage, ids: readonly number[]): number {
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


/**
 * The one place that touches onnxruntime-node's native binding. Its public `InferenceSession.run()` only
 * wraps the synchronous native `run` in a Promise (setImmediate); opshift's API is synchronous, so we call the
 * native session directly. That binding is not public API: the onnxruntime-node version is pinned in
 * package.json, the shape of the binding is checked here, and anything missing makes the backend unavailable
 * with the reason instead of failing an import.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** The subset of onnxruntime-common's Tensor the native code reads and writes. */
export interface OrtTensor {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: unknown;
}
export type OrtTensorConstructor = new (type: string, data: unknown, dims: readonly number[]) => OrtTensor;

export interface NativeSessionOptions {
  intraOpNumThreads?: number;
  interOpNumThreads?: number;
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  executionProviders?: readonly (string | { name: string })[];
  executionMode?: 'sequential' | 'parallel';
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
  /** Session config entries, nested by their dotted keys (`session.intra_op.allow_spinning`), values as strings. */
  extra?: Readonly<Record<string, unknown>>;
}

export interface NativeSession {
  loadModel(buffer: ArrayBuffer, byteOffset: number, byteLength: number, options: NativeSessionOptions): void;
  readonly inputMetadata: readonly { name: string }[];
  readonly outputMetadata: readonly { name: string }[];
  run(feeds: Record<string, OrtTensor>, fetches: Record<string, OrtTensor | null>, options: object): Record<string, OrtTensor>;
  dispose(): void;
}

export interface OrtRuntime {
  readonly version: string;
  readonly Tensor: OrtTensorConstructor;
  readonly providers: readonly { name: string; bundled: boolean }[];
  createSession(model: Uint8Array, options: NativeSessionOptions): NativeSession;
}

export type LoadResult = { ok: true; runtime: OrtRuntime } | { ok: false; reason: string };

let cached: LoadResult | undefined;

/**
 * onnxruntime-node's native initialisation (initOrt) reads /proc/self/cmdline and crashes the process with
 * SIGSEGV when the command line is longer than about 29 KiB (measured with onnxruntime-node 1.30.0 on Linux:
 * 28,000 bytes of arguments load, 30,000 crash). A native crash is never acceptable, so the backend refuses to
 * load above this bound and says why; long prompts go through files or stdin instead (`--prompt-file`).
 */
export const MAX_ORT_CMDLINE_BYTES = 24 * 1024;

/** Bytes of this process's command line (argv as the kernel holds it), or 0 where it cannot be read. */
export function commandLineBytes(): number {
  try {
    return readFileSync('/proc/self/cmdline').length;
  } catch {
    // Not Linux: count what Node saw (execArgv, argv), each with its NUL.
    return [process.argv0, ...process.execArgv, ...process.argv.slice(1)].reduce((n, a) => n + Buffer.byteLength(a) + 1, 0);
  }
}

/** Load the binding once; never throws. */
export function loadOrt(): LoadResult {
  if (!cached) {
    const bytes = commandLineBytes();
    cached =
      bytes > MAX_ORT_CMDLINE_BYTES
        ? {
            ok: false,
            reason:
              `the process command line is ${bytes} bytes; onnxruntime-node crashes when it exceeds ~29 KiB, so opshift does ` +
              `not load it above ${MAX_ORT_CMDLINE_BYTES} (pass long prompts with --prompt-file or stdin)`,
          }
        : loadOrtWith(require);
  }
  return cached;
}

/** Load through a given `require` (tests pass one that fails, to check the unavailable path). */
export function loadOrtWith(require: (id: string) => unknown): LoadResult {
  try {
    const pkg = require('onnxruntime-node/package.json') as { version: string };
    const mod = require('onnxruntime-node/dist/binding.js') as {
      binding?: {
        InferenceSession?: new () => NativeSession;
        listSupportedBackends?: () => { name: string; bundled: boolean }[];
      };
      initOrt?: () => void;
    };
    const ortPublic = require('onnxruntime-node') as { Tensor?: OrtTensorConstructor };
    const Native = mod.binding?.InferenceSession;
    if (!Native || typeof mod.initOrt !== 'function' || typeof ortPublic.Tensor !== 'function')
      return { ok: false, reason: `onnxruntime-node ${pkg.version}: native binding has an unexpected shape (expected dist/binding.js exporting binding.InferenceSession and initOrt)` };
    mod.initOrt();
    const proto = Native.prototype as Partial<NativeSession>;
    if (typeof proto.loadModel !== 'function' || typeof proto.run !== 'function')
      return { ok: false, reason: `onnxruntime-node ${pkg.version}: native InferenceSession lacks loadModel/run` };
    const Tensor = ortPublic.Tensor;
    return {
      ok: true,
      runtime: {
        version: pkg.version,
        Tensor,
        providers: mod.binding?.listSupportedBackends?.() ?? [],
        createSession(model, options) {
          const s = new Native();
          s.loadModel(model.buffer as ArrayBuffer, model.byteOffset, model.byteLength, options);
          return s;
        },
      },
    };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    // An optional peer dependency: a user who never installed it gets how to, not a stack of module paths.
    if (err.code === 'MODULE_NOT_FOUND' && /onnxruntime-node/.test(err.message))
      return { ok: false, reason: 'install onnxruntime-node (an optional peer dependency of opshift): npm install onnxruntime-node@1.30.0' };
    return { ok: false, reason: `onnxruntime-node could not be loaded: ${err.message.split('\n')[0]}` };
  }
}

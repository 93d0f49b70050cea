/**
 * Error types. Every message names the op, the shapes or dtypes involved and the rule that was broken,
 * e.g. `matmul: [2,3] @ [4,5]: inner dims 3 and 4 differ`.
 */
export class OpshiftError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A shape rule was broken (incompatible shapes, out-of-range dim, bad view). */
export class ShapeError extends OpshiftError {}

/** A dtype rule was broken (unsupported dtype for an op, mismatched dtypes). */
export class DTypeError extends OpshiftError {}

/** A backend was asked for explicitly but cannot run (missing native library or binding). */
export class BackendUnavailableError extends OpshiftError {
  constructor(
    readonly backend: string,
    readonly reason: string,
  ) {
    super(`backend '${backend}' is unavailable: ${reason}`);
  }
}

export interface Refusal {
  readonly backend: string;
  readonly reason: string;
}

/** No candidate backend could run the op and it has no decomposition. */
export class NoKernelError extends OpshiftError {
  constructor(
    readonly op: string,
    readonly signature: string,
    readonly refusals: readonly Refusal[],
  ) {
    const tried = refusals.length ? refusals.map((r) => `  ${r.backend}: ${r.reason}`).join('\n') : '  (no candidate backends)';
    super(`${op}: no backend can run ${signature}; tried:\n${tried}`);
  }
}

/** Bad argument that is neither a shape nor a dtype problem (unknown backend name, bad policy, ...). */
export class ArgumentError extends OpshiftError {}

/** An index value is out of range for the dim it indexes (gather, index_select, embedding), like PyTorch's IndexError. */
export class IndexError extends OpshiftError {}

/** A checkpoint file or folder is missing, corrupt or inconsistent (safetensors, index, config.json). Names the file. */
export class CheckpointError extends OpshiftError {
  constructor(
    readonly file: string,
    readonly rule: string,
  ) {
    super(`${file}: ${rule}`);
  }
}

/** A model download from the Hugging Face hub (or a mirror) failed; names the URL and, if any, the HTTP status. */
export class HubError extends OpshiftError {
  constructor(
    message: string,
    readonly url: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

/** A tokenizer could not be loaded or used (missing files, no chat template). */
export class TokenizerError extends OpshiftError {}

/**
 * A call into the NPU library failed: names the C function, its npu_status and the library's own message
 * (npu_last_error()), e.g. `npu_gemm_run_w8 failed with NPU_E_XRT (5): ...`. Also raised for a handle used after
 * dispose().
 */
export class NpuError extends OpshiftError {
  constructor(
    readonly call: string,
    readonly status: number,
    readonly detail: string,
  ) {
    super(`${call} failed with ${NPU_STATUS_NAMES[status] ?? 'status'} (${status}): ${detail || '(the library gave no message)'}`);
  }
}

/** npu_status values of backends/npu/native/opshift_npu.h, by number (-1: detected on the TypeScript side). */
export const NPU_STATUS_NAMES: Readonly<Record<number, string>> = {
  [-1]: 'NPU_E_DISPOSED',
  1: 'NPU_E_ARG',
  2: 'NPU_E_UNSUPPORTED',
  3: 'NPU_E_NODEV',
  4: 'NPU_E_NOFILE',
  5: 'NPU_E_XRT',
  6: 'NPU_E_OOM',
  7: 'NPU_E_BUSY',
  8: 'NPU_E_INTERNAL',
};

/**
 * A tensor (or the storage behind it) was used after dispose() / the end of its tidy() scope: the op that
 * tried and what it was given.
 */
export class DisposedError extends OpshiftError {
  constructor(
    readonly op: string,
    readonly what: string,
  ) {
    super(`${op}: ${what} was used after dispose() (disposed explicitly, by \`using\`, or at the end of the tidy() that created it; keep() it or return it from the tidy to use it later)`);
  }
}

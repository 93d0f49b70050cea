/**
 * float32 GEMM in plain TypeScript, accumulating in double. Two layouts cover every case after packing:
 *   dot  : C[i,j] = Σk A[i,k]·B[j,k]   (A rows and B rows contiguous along K: the Linear / x @ Wᵀ case)
 *   axpy : C[i,:] += A[i,k]·B[k,:]      (B row-major [K,N]: the plain x @ W case)
 * The dot kernel computes 2×4 output tiles so each loaded value is used several times.
 */

/** C[i·ldc + j] = Σk A[aOff + i·lda + k] · B[bOff + j·ldb + k] for i < m, j < n. */
export function gemmDot(
  m: number,
  n: number,
  k: number,
  A: Float32Array,
  aOff: number,
  lda: number,
  B: Float32Array,
  bOff: number,
  ldb: number,
  C: Float32Array,
  cOff: number,
  ldc: number,
): void {
  let i = 0;
  for (; i + 2 <= m; i += 2) {
    const a0 = aOff + i * lda;
    const a1 = a0 + lda;
    const c0 = cOff + i * ldc;
    const c1 = c0 + ldc;
    let j = 0;
    for (; j + 4 <= n; j += 4) {
      const b0 = bOff + j * ldb;
      const b1 = b0 + ldb;
      const b2 = b1 + ldb;
      const b3 = b2 + ldb;
      let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
      for (let p = 0; p < k; p++) {
        const x0 = A[a0 + p]!;
        const x1 = A[a1 + p]!;
        const w0 = B[b0 + p]!;
        const w1 = B[b1 + p]!;
        const w2 = B[b2 + p]!;
        const w3 = B[b3 + p]!;
        s00 += x0 * w0; s01 += x0 * w1; s02 += x0 * w2; s03 += x0 * w3;
        s10 += x1 * w0; s11 += x1 * w1; s12 += x1 * w2; s13 += x1 * w3;
      }
      C[c0 + j] = s00; C[c0 + j + 1] = s01; C[c0 + j + 2] = s02; C[c0 + j + 3] = s03;
      C[c1 + j] = s10; C[c1 + j + 1] = s11; C[c1 + j + 2] = s12; C[c1 + j + 3] = s13;
    }
    for (; j < n; j++) {
      const b0 = bOff + j * ldb;
      let s0 = 0, s1 = 0;
      for (let p = 0; p < k; p++) {
        const w = B[b0 + p]!;
        s0 += A[a0 + p]! * w;
        s1 += A[a1 + p]! * w;
      }
      C[c0 + j] = s0;
      C[c1 + j] = s1;
    }
  }
  for (; i < m; i++) {
    const a0 = aOff + i * lda;
    const c0 = cOff + i * ldc;
    let j = 0;
    for (; j + 4 <= n; j += 4) {
      const b0 = bOff + j * ldb;
      const b1 = b0 + ldb;
      const b2 = b1 + ldb;
      const b3 = b2 + ldb;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let p = 0; p < k; p++) {
        const x = A[a0 + p]!;
        s0 += x * B[b0 + p]!;
        s1 += x * B[b1 + p]!;
        s2 += x * B[b2 + p]!;
        s3 += x * B[b3 + p]!;
      }
      C[c0 + j] = s0; C[c0 + j + 1] = s1; C[c0 + j + 2] = s2; C[c0 + j + 3] = s3;
    }
    for (; j < n; j++) {
      const b0 = bOff + j * ldb;
      let s = 0;
      for (let p = 0; p < k; p++) s += A[a0 + p]! * B[b0 + p]!;
      C[c0 + j] = s;
    }
  }
}

/** C[i·ldc + j] = Σk A[aOff + i·lda + k] · B[bOff + k·ldb + j]: B row-major, rows accumulated in double. */
export function gemmAxpy(
  m: number,
  n: number,
  k: number,
  A: Float32Array,
  aOff: number,
  lda: number,
  B: Float32Array,
  bOff: number,
  ldb: number,
  C: Float32Array,
  cOff: number,
  ldc: number,
): void {
  const acc = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    acc.fill(0);
    const a0 = aOff + i * lda;
    for (let p = 0; p < k; p++) {
      const x = A[a0 + p]!;
      const b0 = bOff + p * ldb;
      for (let j = 0; j < n; j++) acc[j]! += x * B[b0 + j]!;
    }
    const c0 = cOff + i * ldc;
    for (let j = 0; j < n; j++) C[c0 + j] = acc[j]!;
  }
}

/**
 * "Did you mean" for names users type: op names in policies (`{ Matmul: 'npu' }`, `{ linear: 'npu' }`) and
 * backend names. A case-insensitive match wins; otherwise the nearest name by edit distance, if it is close.
 */

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** The closest of `names` to `name`, or undefined when none is near (more than a third of its letters off). */
export function closestName(name: string, names: Iterable<string>): string | undefined {
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestD = Infinity;
  for (const n of names) {
    if (n.toLowerCase() === lower) return n;
    const d = editDistance(lower, n.toLowerCase());
    if (d < bestD) [best, bestD] = [n, d];
  }
  return bestD <= Math.max(1, Math.floor(name.length / 3)) ? best : undefined;
}

/** ` (did you mean 'X'?)` or the empty string. */
export function didYouMean(name: string, names: Iterable<string>): string {
  const c = closestName(name, names);
  return c === undefined ? '' : ` (did you mean '${c}'?)`;
}

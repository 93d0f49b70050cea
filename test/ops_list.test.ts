/**
 * The README's op list is generated from the registry (tools/ops_list.ts): it must equal what
 * `opshift ops --markdown` prints now. Regenerate with `npx tsc -p tsconfig.json && node dist/tools/cli.js ops --readme README.md`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backendNames, listOps } from '../core/index.js';
import { opsList, opsMarkdown, readOpsBlock, replaceOpsBlock, OPS_BEGIN, OPS_END } from '../tools/ops_list.js';

const ROOT = join(import.meta.dirname, '..');

describe('generated op list', () => {
  it('README equals `opshift ops --markdown` (run `node dist/tools/cli.js ops --readme README.md` after adding ops)', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(readOpsBlock(readme), 'README has no ops:begin/ops:end block').toBeDefined();
    expect(readOpsBlock(readme)).toBe(opsMarkdown());
  });

  it('lists every registered op once, with exactly the backends holding a kernel for it', () => {
    const rows = opsList();
    expect(rows.map((r) => r.op).sort()).toEqual(listOps().map((o) => o.name).sort());
    for (const op of listOps()) {
      const row = rows.find((r) => r.op === op.name)!;
      expect(row.backends).toEqual(backendNames().filter((b) => op.kernels.has(b)));
      expect(row.decompose).toBe(op.decompose !== undefined);
      // Every op can run somewhere: a kernel or a decomposition.
      expect(row.backends.length > 0 || row.decompose, op.name).toBe(true);
    }
  });

  it('replaces only the block between the markers', () => {
    const doc = `intro\n${OPS_BEGIN}\nold\n${OPS_END}\noutro\n`;
    expect(replaceOpsBlock(doc, 'new')).toBe(`intro\n${OPS_BEGIN}\nnew\n${OPS_END}\noutro\n`);
    expect(() => replaceOpsBlock('no markers', 'x')).toThrow(/markers .* are missing/);
  });
});

/**
 * Fuzz cases that can hang (a FIFO open) or die by a signal must run in a child process the test can watch
 * and kill. Node 20 cannot run TypeScript, and dist/ may be older than the source under test, so the child
 * runs a fresh JavaScript copy of exactly the modules it imports: each is transpiled (no type check, a few
 * ms per file) into a temporary tree that mirrors the repo, with node_modules linked back to the repo's.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';

const IMPORT_RE = /(?:import|export)\s[^'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)|import\s+['"](\.{1,2}\/[^'"]+)['"]/g;

/**
 * Transpiles `entry` (a .ts file under `root`) and every relative import it reaches into `outDir`; returns
 * the path of the entry's .js. Files that are not TypeScript (.mjs, .json, .wasm next to their module) are
 * copied as they are.
 */
export function transpileTree(root: string, entry: string, outDir: string): string {
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'package.json'), '{ "type": "module" }\n');
  const modules = path.join(outDir, 'node_modules');
  if (!fs.existsSync(modules)) fs.symlinkSync(path.join(root, 'node_modules'), modules, 'dir');
  const done = new Set<string>();
  const queue = [path.resolve(entry)];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (done.has(file)) continue;
    done.add(file);
    const rel = path.relative(root, file);
    const source = fs.readFileSync(file, 'utf8');
    if (file.endsWith('.ts')) {
      const out = ts.transpileModule(source, {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: false, isolatedModules: true },
        fileName: file,
      }).outputText;
      const target = path.join(outDir, rel.replace(/\.ts$/, '.js'));
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, out);
    } else {
      const target = path.join(outDir, rel);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.copyFileSync(file, target);
    }
    for (const m of source.matchAll(IMPORT_RE)) {
      const spec = m[1] ?? m[2] ?? m[3]!;
      const resolved = path.resolve(path.dirname(file), spec);
      const asTs = resolved.replace(/\.js$/, '.ts');
      if (fs.existsSync(asTs)) queue.push(asTs);
      else if (fs.existsSync(resolved)) queue.push(resolved);
    }
  }
  return path.join(outDir, path.relative(root, entry).replace(/\.ts$/, '.js'));
}

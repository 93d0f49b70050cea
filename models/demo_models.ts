/**
 * The demo models that ship with the package (models/demo/<name>/: a Hugging Face folder each, trained on the
 * King James Bible; see models/demo/README.md). `loadModel('demo:llama')` and `--model demo:llama` find them here.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ArgumentError } from '../core/errors.js';

export const DEMO_MODELS = ['llama', 'opt'] as const;
export type DemoModel = (typeof DEMO_MODELS)[number];

/** The package's root folder, from the sources (models/) or the build (dist/models/). */
export function packageRoot(): string {
  const up = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  return existsSync(join(up, 'package.json')) ? up : resolve(up, '..');
}

/** The folder of a shipped demo model (`'llama'` or `'demo:llama'`). */
export function demoModelDir(name: string): string {
  const bare = name.startsWith('demo:') ? name.slice('demo:'.length) : name;
  if (!(DEMO_MODELS as readonly string[]).includes(bare)) throw new ArgumentError(`demo:${bare}: no such demo model (${DEMO_MODELS.map((m) => `demo:${m}`).join(', ')})`);
  const dir = join(packageRoot(), 'models', 'demo', bare);
  if (!existsSync(join(dir, 'config.json'))) throw new ArgumentError(`demo:${bare}: the demo model's files are missing from ${dir}`);
  return dir;
}

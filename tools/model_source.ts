/**
 * What `--model` accepts: a Hugging Face folder, `synthetic:<preset>`, `demo:<name>` (the models shipped in
 * models/demo/), or a hub id (`owner/name`, downloaded into the Hugging Face cache by models/io/hub.ts).
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ArgumentError } from '../core/errors.js';
import { demoModelDir } from '../models/demo_models.js';
import { resolveModel } from '../models/io/hub.js';

export interface ModelSource {
  /** What loadModel takes: a folder or `synthetic:…`. */
  readonly load: string;
  /** The folder (for tokenizer files), undefined for synthetic models. */
  readonly dir: string | undefined;
}

/** The repository root, from the sources (tools/) or the build (dist/tools/). */
export function repoRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const up = resolve(here, '..');
  return existsSync(join(up, 'package.json')) ? up : resolve(up, '..');
}

export async function resolveModelSource(source: string): Promise<ModelSource> {
  if (source.startsWith('synthetic:')) return { load: source, dir: undefined };
  if (source.startsWith('demo:')) {
    const dir = demoModelDir(source);
    return { load: dir, dir };
  }
  if (existsSync(source) && statSync(source).isDirectory()) return { load: source, dir: source };
  if (/^[\w.-]+\/[\w.-]+$/.test(source)) {
    const dir = await resolveModel(source);
    return { load: dir, dir };
  }
  throw new ArgumentError(`--model ${source}: not a folder, a hub id (owner/name), demo:<name> or synthetic:<preset>`);
}

/**
 * Files named on the command line. Inputs are read only when they are regular files (a FIFO would block the
 * process forever, a device would never end, a directory fails with a raw EISDIR) and only up to a size bound;
 * outputs are checked before any work starts, so an hour of benchmarking does not end in ENOENT. Every error
 * names the option, the path and the rule.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ArgumentError, CheckpointError } from '../core/errors.js';
import { readRegularText } from '../models/io/regular_file.js';

/** Text inputs (prompts, evaluation and calibration texts) larger than this are refused: 256 MiB. */
export const MAX_TEXT_FILE_BYTES = 256 * 1024 * 1024;

/** The UTF-8 text of the file an option names; `-` reads standard input when `allowStdin`. */
export function readTextOption(option: string, file: string, options: { allowStdin?: boolean; maxBytes?: number } = {}): string {
  if (file === '') throw new ArgumentError(`${option}: the file name is empty`);
  if (file === '-') {
    if (!options.allowStdin) throw new ArgumentError(`${option} -: standard input is not accepted here; name a file`);
    return readFileSync(0, 'utf8');
  }
  if (!existsSync(file)) throw new ArgumentError(`${option} ${file}: no such file`);
  try {
    return readRegularText(file, `the ${option} file`, options.maxBytes ?? MAX_TEXT_FILE_BYTES);
  } catch (e) {
    if (e instanceof CheckpointError) throw new ArgumentError(`${option} ${file}: ${e.message.replace(`${file}: `, '')}`);
    throw e;
  }
}

/** Checks that `file` can be created or replaced: a non-empty name, not a directory, in an existing folder. */
export function checkOutputFile(option: string, file: string): string {
  if (file === '') throw new ArgumentError(`${option}: the file name is empty`);
  const abs = resolve(file);
  if (existsSync(abs) && !statSync(abs).isFile()) throw new ArgumentError(`${option} ${file}: exists and is not a regular file (a directory or device); name a file to write`);
  const dir = dirname(abs);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ArgumentError(`${option} ${file}: the folder ${dir} does not exist`);
  return abs;
}

/** Checks that `dir` can hold output files: a non-empty name that is a folder or does not exist yet. */
export function checkOutputDir(option: string, dir: string): string {
  if (dir === '') throw new ArgumentError(`${option}: the folder name is empty`);
  const abs = resolve(dir);
  if (existsSync(abs) && !statSync(abs).isDirectory()) throw new ArgumentError(`${option} ${dir}: exists and is not a folder`);
  return abs;
}

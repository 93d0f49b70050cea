/**
 * Opening checkpoint files safely: only regular files are read. A FIFO in place of a weight file would block
 * `open()` forever and a character device (/dev/zero) would never end, so the file is opened with O_NONBLOCK
 * (which makes open of a FIFO return at once and changes nothing for regular files) and fstat'ed before any
 * read; anything else is refused with an error naming the file and what it is.
 */
import * as fs from 'node:fs';
import { CheckpointError } from '../../core/errors.js';

/** O_NONBLOCK where the platform has it (not on Windows, which has no FIFOs at a file path). */
const OPEN_FLAGS = fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0);

function kind(st: fs.Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** Opens `file` for reading if it is a regular file (symlinks followed); returns the fd and its size. */
export function openRegularFile(file: string, what = 'the file'): { fd: number; size: number } {
  let fd: number;
  try {
    fd = fs.openSync(file, OPEN_FLAGS);
  } catch (e) {
    throw new CheckpointError(file, `cannot open ${what}: ${(e as Error).message}`);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new CheckpointError(file, `${what} is ${kind(st)}, not a regular file: only regular files are read`);
    return { fd, size: st.size };
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

/** The UTF-8 text of a regular file of at most `maxBytes` bytes (config and index JSON files). */
export function readRegularText(file: string, what: string, maxBytes: number): string {
  const { fd, size } = openRegularFile(file, what);
  try {
    if (size > maxBytes) throw new CheckpointError(file, `${what} is ${size} bytes, more than the ${maxBytes} bytes such a file may have`);
    const buf = Buffer.alloc(size);
    for (let done = 0; done < size; ) {
      const got = fs.readSync(fd, buf, done, size - done, done);
      if (got === 0) throw new CheckpointError(file, `${what} ended at byte ${done} of ${size} (truncated while reading?)`);
      done += got;
    }
    return buf.toString('utf8');
  } finally {
    fs.closeSync(fd);
  }
}

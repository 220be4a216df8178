import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { ElfError } from './errors.js';
import type { ByteSource } from './reader.js';
import { notRegularFile } from '../io/read-file.js';

/**
 * Reads ranges of a file with positional reads, so only the parts asked for (headers, symbol and
 * string tables) are ever in memory. Ranges are cached: the reader asks for some of them twice.
 * Only regular files: a FIFO, device or folder has no size to check ranges against.
 */
export class FileSource implements ByteSource {
  readonly size: number;
  private fd: number;
  private readonly cache = new Map<string, Uint8Array>();

  constructor(readonly path: string) {
    // O_NONBLOCK: opening a FIFO must not wait for a writer before it can be refused.
    this.fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const st = fstatSync(this.fd);
    if (!st.isFile()) {
      closeSync(this.fd);
      throw notRegularFile(st);
    }
    this.size = st.size;
  }

  read(offset: number, length: number): Uint8Array {
    // The reader checks every range first; this keeps an unchecked one from sizing a buffer.
    if (!(offset >= 0 && length >= 0 && offset + length <= this.size)) {
      throw new ElfError('format', `range ${offset}+${length} lies outside the file (${this.size} bytes)`, { file: this.path });
    }
    const key = `${offset}:${length}`;
    const hit = this.cache.get(key);
    if (hit) return hit;
    const buf = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, buf, done, length - done, offset + done);
      if (n === 0) break;
      done += n;
    }
    const out = done === length ? buf : buf.subarray(0, done);
    this.cache.set(key, out);
    return out;
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    this.cache.clear();
  }
}

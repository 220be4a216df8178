import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { ByteSource } from './reader.js';

/**
 * Reads ranges of a file with positional reads, so only the parts asked for (headers, symbol and
 * string tables) are ever in memory. Ranges are cached: the reader asks for some of them twice.
 */
export class FileSource implements ByteSource {
  readonly size: number;
  private fd: number;
  private readonly cache = new Map<string, Uint8Array>();

  constructor(readonly path: string) {
    this.fd = openSync(path, 'r');
    this.size = fstatSync(this.fd).size;
  }

  read(offset: number, length: number): Uint8Array {
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

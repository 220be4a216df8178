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
  /** The file's first and last bytes, each read whole when first asked for (see the constructor). */
  private head: Uint8Array | undefined;
  private tail: Uint8Array | undefined;
  private readonly headEnd: number;
  private readonly tailStart: number;
  private readonly scratch: ReadScratch | undefined;

  /**
   * `head`, `tail`: the first read within the file's first `head` (or last `tail`) bytes reads
   * them all. The ELF header is at the start; linkers put the symbol and string tables and the
   * section headers at the end. For a small object, one of thousands read in a row, two reads then
   * serve most of what a symbol reader asks for, where a read per table and header cost as much as
   * their contents. `scratch`: where everything this source reads goes, shared by the sources a
   * caller reads one after the other: what this source returns is valid until the next source is
   * made with the same scratch (fresh buffers for each of thousands of files cost more in page
   * faults and garbage collection than their reads).
   */
  constructor(
    readonly path: string,
    options: { head?: number; tail?: number; scratch?: ReadScratch } = {},
  ) {
    // O_NONBLOCK: opening a FIFO must not wait for a writer before it can be refused.
    this.fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const st = fstatSync(this.fd);
    if (!st.isFile()) {
      closeSync(this.fd);
      throw notRegularFile(st);
    }
    this.size = st.size;
    this.headEnd = Math.min(options.head ?? 0, this.size);
    this.tailStart = Math.max(this.headEnd, this.size - (options.tail ?? 0));
    this.scratch = options.scratch;
    this.scratch?.reset();
  }

  read(offset: number, length: number): Uint8Array {
    // The reader checks every range first; this keeps an unchecked one from sizing a buffer.
    if (!(offset >= 0 && length >= 0 && offset + length <= this.size)) {
      throw new ElfError('format', `range ${offset}+${length} lies outside the file (${this.size} bytes)`, { file: this.path });
    }
    if (offset + length <= this.headEnd) {
      this.head ??= this.readRange(0, this.headEnd);
      return this.head.subarray(offset, offset + length);
    }
    if (offset >= this.tailStart && offset < this.size) {
      this.tail ??= this.readRange(this.tailStart, this.size - this.tailStart);
      return this.tail.subarray(offset - this.tailStart, offset - this.tailStart + length);
    }
    const key = `${offset}:${length}`;
    const hit = this.cache.get(key);
    if (hit) return hit;
    const out = this.readRange(offset, length);
    this.cache.set(key, out);
    return out;
  }

  private readRange(offset: number, length: number): Uint8Array {
    // Not zeroed first: a short read (the file shrank) is cut off below, never shown.
    const buf = this.scratch ? this.scratch.take(length) : Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, buf, done, length - done, offset + done);
      if (n === 0) break;
      done += n;
    }
    return done === buf.length ? buf : buf.subarray(0, done);
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    this.cache.clear();
    this.head = undefined;
    this.tail = undefined;
  }
}

/**
 * Memory that FileSources made one after the other read into (see FileSource): a block handed out
 * in pieces, started over by each new source. A block outgrown is replaced, not reused: pieces
 * already handed out stay valid.
 */
export class ReadScratch {
  private block = new Uint8Array(0);
  private used = 0;

  reset(): void {
    this.used = 0;
  }

  take(length: number): Uint8Array {
    if (this.used + length > this.block.length) {
      this.block = Buffer.allocUnsafeSlow(Math.max(2 * this.block.length, length, 1 << 20));
      this.used = 0;
    }
    const piece = this.block.subarray(this.used, this.used + length);
    this.used += length;
    return piece;
  }
}

import { createRequire } from 'node:module';
import { gunzipSync } from 'node:zlib';
import type { ZSTDDecoder } from 'zstddec';

export type Compression = 'none' | 'gzip' | 'xz' | 'zstd';

/**
 * The most a compressed module may decompress to. Debian 6.1's biggest module (amdgpu.ko) is
 * 19 MB; 256 MiB is more than ten times that, and bounds what a decompression bomb costs.
 */
export const MAX_DECOMPRESSED = 256 * 1024 * 1024;

/** A compressed input that is corrupt, truncated, or larger than allowed once decompressed. */
export class DecompressError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DecompressError';
  }
}

/** What `scripts/Makefile.modinst` may have compressed a module with, told by its magic bytes. */
export function compressionOf(bytes: Uint8Array): Compression {
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) return 'gzip';
  if (bytes[0] === 0xfd && bytes[1] === 0x37 && bytes[2] === 0x7a && bytes[3] === 0x58 && bytes[4] === 0x5a && bytes[5] === 0) return 'xz';
  if (bytes[0] === 0x28 && bytes[1] === 0xb5 && bytes[2] === 0x2f && bytes[3] === 0xfd) return 'zstd';
  return 'none';
}

/**
 * Decompress, refusing more than `limit` bytes of output before it is produced or as soon as it
 * is, and checking the integrity data each format carries: gzip's CRC32 and size (zlib checks
 * both), xz's CRC32 or CRC64 (xz-embedded checks them; SHA-256 streams are refused as unsupported),
 * zstd's content checksum and content size (libzstd checks both).
 */
export async function decompress(bytes: Uint8Array, limit = MAX_DECOMPRESSED): Promise<Uint8Array> {
  switch (compressionOf(bytes)) {
    case 'gzip':
      return gunzip(bytes, limit);
    case 'zstd':
      return unzstd(bytes, limit);
    case 'xz':
      return unxz(bytes, limit);
    default:
      return bytes;
  }
}

function tooBig(limit: number): DecompressError {
  return new DecompressError(`decompresses to more than ${limit} bytes (the limit for a module)`);
}

function gunzip(bytes: Uint8Array, limit: number): Uint8Array {
  try {
    return gunzipSync(bytes, { maxOutputLength: limit });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw tooBig(limit);
    throw new DecompressError((e as Error).message);
  }
}

/** xz-embedded's return codes (xz.h), for messages. */
const xzErrors: Record<string, string> = {
  '3': 'out of memory',
  '4': 'dictionary larger than the decoder allows',
  '5': 'not an xz stream',
  '6': 'unsupported options or integrity check (SHA-256)',
  '7': 'corrupt data (integrity check failed)',
  '8': 'truncated',
};

async function unxz(bytes: Uint8Array, limit: number): Promise<Uint8Array> {
  // Loaded on the first xz module: reading plain modules (Debian 6.1's) needs none of it. A CommonJS
  // package, required: an import's shape differs between Node's loader and tsx's (the tests).
  const { XzReadableStream } = createRequire(import.meta.url)('xz-decompress') as typeof import('xz-decompress');
  const reader = new XzReadableStream(new Blob([bytes]).stream()).getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > limit) {
        await reader.cancel();
        throw tooBig(limit);
      }
      chunks.push(value);
    }
  } catch (e) {
    if (e instanceof DecompressError) throw e;
    const code = /error code (\d+)/.exec((e as Error).message)?.[1];
    throw new DecompressError(code && xzErrors[code] ? xzErrors[code] : (e as Error).message);
  }
  return Buffer.concat(chunks, total);
}

const ZSTD_MAGIC = 0xfd2fb528;
/** Largest block a frame may hold, decompressed (RFC 8878, Block_Maximum_Size). */
const ZSTD_BLOCK_MAX = 128 * 1024;

interface ZstdFrame {
  /** The whole frame, header to checksum. */
  bytes: Uint8Array;
  /** Frame_Content_Size, when declared. */
  contentSize: number | undefined;
  /** Most the blocks can decompress to, from their headers alone. */
  bound: number;
}

/**
 * Frames of a zstd stream, walked by their headers (RFC 8878) without decompressing, so a frame
 * that would exceed the limit is refused before a byte of output is allocated (a declared content
 * size, or what the blocks can hold), and a declared size the blocks cannot hold is refused too.
 * Skippable frames are skipped.
 */
function zstdFrames(bytes: Uint8Array, limit: number): ZstdFrame[] {
  const d = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const truncated = (): never => {
    throw new DecompressError('truncated zstd frame');
  };
  const need = (at: number, n: number): void => {
    if (at + n > bytes.length) truncated();
  };
  const frames: ZstdFrame[] = [];
  let total = 0;
  let o = 0;
  while (o < bytes.length) {
    need(o, 8);
    const magic = d.getUint32(o, true);
    if ((magic & 0xfffffff0) === 0x184d2a50) {
      // Skippable frame: magic, 4-byte size, that many bytes of user data.
      const size = d.getUint32(o + 4, true);
      need(o + 8, size);
      o += 8 + size;
      continue;
    }
    if (magic !== ZSTD_MAGIC) throw new DecompressError(`not a zstd frame at offset ${o}`);
    const start = o;
    const fhd = bytes[o + 4];
    o += 5;
    const singleSegment = (fhd & 0x20) !== 0;
    if (fhd & 0x08) throw new DecompressError('zstd frame header has its reserved bit set');
    let window = 0;
    if (!singleSegment) {
      const wd = bytes[o++];
      const base = 2 ** (10 + (wd >> 3));
      window = base + (base / 8) * (wd & 7);
    }
    o += [0, 1, 2, 4][fhd & 3];
    const fcsSize = [singleSegment ? 1 : 0, 2, 4, 8][fhd >> 6];
    need(o, fcsSize);
    let contentSize: number | undefined;
    if (fcsSize === 1) contentSize = bytes[o];
    else if (fcsSize === 2) contentSize = d.getUint16(o, true) + 256;
    else if (fcsSize === 4) contentSize = d.getUint32(o, true);
    else if (fcsSize === 8) contentSize = d.getUint32(o + 4, true) * 2 ** 32 + d.getUint32(o, true);
    o += fcsSize;
    if (singleSegment) window = contentSize!;
    if (contentSize !== undefined && total + contentSize > limit) throw tooBig(limit);
    const blockMax = Math.min(window, ZSTD_BLOCK_MAX);
    let bound = 0;
    for (let last = false; !last; ) {
      need(o, 3);
      const h = bytes[o] | (bytes[o + 1] << 8) | (bytes[o + 2] << 16);
      o += 3;
      last = (h & 1) === 1;
      const type = (h >> 1) & 3;
      const size = h >>> 3;
      if (type === 3) throw new DecompressError('zstd block of reserved type');
      if (size > blockMax) throw new DecompressError(`zstd block of ${size} bytes exceeds the frame's ${blockMax}-byte maximum`);
      // Raw and RLE blocks say their decompressed size; a compressed one is at most a full block.
      bound += type === 2 ? blockMax : size;
      if (total + bound > limit) throw tooBig(limit);
      o += type === 1 ? 1 : size;
      need(o, 0);
    }
    if (contentSize !== undefined && contentSize > bound)
      throw new DecompressError(`zstd frame declares ${contentSize} bytes but its blocks hold at most ${bound}`);
    // Content_Checksum (libzstd checks it).
    if (fhd & 0x04) {
      need(o, 4);
      o += 4;
    }
    total += contentSize ?? bound;
    frames.push({ bytes: bytes.subarray(start, o), contentSize, bound });
  }
  return frames;
}

/** libzstd (the reference decoder, built to WebAssembly), loaded on the first zstd module. */
let zstdDecoder: Promise<ZSTDDecoder> | undefined;

function zstdDecoderReady(): Promise<ZSTDDecoder> {
  zstdDecoder ??= (async () => {
    const { ZSTDDecoder } = await import('zstddec');
    const d = new ZSTDDecoder();
    await d.init();
    return d;
  })();
  return zstdDecoder;
}

/**
 * One frame's content, decoded by libzstd's single-shot ZSTD_decompress into a buffer of the
 * declared size or, without one, of what the blocks can hold: it allocates no window whatever the
 * frame claims, checks every sequence against the block and the buffer (its work is linear in the
 * input and output: fzstd, used before, ran for seconds on garbage sequence lengths), and checks
 * the declared content size and the content checksum. zstddec returns nothing on any of libzstd's
 * errors (it drops the code), so an empty result is a refusal: a module is never empty.
 */
function zstdFrame(decoder: ZSTDDecoder, frame: ZstdFrame): Uint8Array {
  const size = frame.contentSize ?? frame.bound;
  // A frame with nothing in it (zstd of empty input) is valid; a stream of only such frames is
  // refused below, as no module.
  if (size === 0) return new Uint8Array(0);
  const out = decoder.decode(frame.bytes, size);
  if (out.length === 0 || (frame.contentSize !== undefined && out.length !== frame.contentSize)) {
    throw new DecompressError('corrupt zstd data (a block, the declared content size or the content checksum does not hold)');
  }
  return out;
}

async function unzstd(bytes: Uint8Array, limit: number): Promise<Uint8Array> {
  const frames = zstdFrames(bytes, limit);
  const decoder = await zstdDecoderReady();
  const parts = frames.map((frame) => zstdFrame(decoder, frame));
  const out = parts.length === 1 ? parts[0] : Buffer.concat(parts);
  if (out.length === 0) throw new DecompressError('zstd data holds nothing (an empty stream is no module)');
  return out;
}

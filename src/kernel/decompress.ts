import { gunzipSync } from 'node:zlib';
import { decompress as zstdDecompress } from 'fzstd';
import xz from 'xz-decompress';

export type Compression = 'none' | 'gzip' | 'xz' | 'zstd';

/** What `scripts/Makefile.modinst` may have compressed a module with, told by its magic bytes. */
export function compressionOf(bytes: Uint8Array): Compression {
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) return 'gzip';
  if (bytes[0] === 0xfd && bytes[1] === 0x37 && bytes[2] === 0x7a && bytes[3] === 0x58 && bytes[4] === 0x5a && bytes[5] === 0) return 'xz';
  if (bytes[0] === 0x28 && bytes[1] === 0xb5 && bytes[2] === 0x2f && bytes[3] === 0xfd) return 'zstd';
  return 'none';
}

export async function decompress(bytes: Uint8Array): Promise<Uint8Array> {
  switch (compressionOf(bytes)) {
    case 'gzip':
      return gunzipSync(bytes);
    case 'zstd':
      return zstdDecompress(bytes);
    case 'xz': {
      const stream = new xz.XzReadableStream(new Blob([bytes]).stream());
      return new Uint8Array(await new Response(stream).arrayBuffer());
    }
    default:
      return bytes;
  }
}

import { writeFileAtomic } from '../io/atomic-write.js';
import { readInput } from '../io/read-file.js';
import { BinaryMap, isBinaryMap, writeBinaryMap } from './map-binary.js';
import { TextSymbolMap, formatMap } from './map-format.js';
import type { KernelSymbolMap, MemorySymbolMap } from './symbol-map.js';

/** binary: ours, queried in place (the default); klp-convert: ours as text; upstream: the kernel series'. */
export type MapFormat = 'binary' | 'klp-convert' | 'upstream';
export const MAP_FORMATS: readonly MapFormat[] = ['binary', 'klp-convert', 'upstream'];

/**
 * Read a symbol map file of any format, told apart by its first bytes, in one read. Nothing is
 * made per symbol: queries are answered from the file's bytes (see map-index.ts).
 */
export function loadMap(path: string): KernelSymbolMap {
  const bytes = readInput(path, 'symbol map');
  return isBinaryMap(bytes) ? new BinaryMap(bytes, path) : TextSymbolMap.read(bytes, path);
}

/** Write a map whole or not at all. */
export function writeMap(map: MemorySymbolMap, path: string, format: MapFormat = 'binary'): void {
  if (format === 'binary') writeBinaryMap(map, path);
  else writeFileAtomic(path, formatMap(map, format));
}

/**
 * A warning when a map is for another kernel release than a module's vermagic (whose first word is
 * the release it was built for), or undefined. Maps without a recorded release say nothing.
 */
export function releaseMismatch(map: KernelSymbolMap, mapPath: string, vermagic: string | undefined, module: string): string | undefined {
  const mapRelease = map.meta.get('release');
  const moduleRelease = vermagic?.split(' ')[0];
  if (!mapRelease || !moduleRelease || mapRelease === moduleRelease) return undefined;
  return `${mapPath} is the symbol map of kernel ${mapRelease}, but ${module} was built for ${moduleRelease} (vermagic): positions and exports may not match the kernel it will load into`;
}

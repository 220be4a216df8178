import { type Dirent, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { FileSource, type ReadScratch } from '../elf/file-source.js';
import { BufferSource, ElfReader } from '../elf/reader.js';
import { describe } from '../io/atomic-write.js';
import { DecompressError, MAX_DECOMPRESSED, compressionOf, decompress } from './decompress.js';
import { KernelDataError } from './errors.js';
import { moduleNameFromPath } from './modinfo.js';

const moduleFile = /\.ko(\.(xz|zst|gz))?$/;

/** Every module file below `dir` (`*.ko`, `*.ko.xz`, `*.ko.zst`, `*.ko.gz`), sorted for stable output. */
export function findModules(dir: string): string[] {
  const out: string[] = [];
  // Paths as path.join makes them, but joined by hand: normalising each of a kernel's 4,000 paths
  // costs as much as reading the folders, and only the root can need it (what join puts before a
  // name in it, "" for ".").
  const walk = (d: string, prefix: string): void => {
    let entries: Dirent[];
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch (e) {
      throw new KernelDataError(`cannot read modules folder ${d}: ${describe(e)}`);
    }
    for (const e of entries) {
      const p = prefix + e.name;
      if (e.isDirectory()) walk(p, `${p}/`);
      else if ((e.isFile() || e.isSymbolicLink()) && moduleFile.test(e.name)) out.push(p);
    }
  };
  walk(dir, join(dir, 'x').slice(0, -1));
  return out.sort();
}

/**
 * The file of module `name` below `dir`: the one whose file name gives that module name (a module
 * file is named after KBUILD_MODNAME, '-' or '_'). Undefined when there is none.
 */
export function findModuleFile(dir: string, name: string): string | undefined {
  return findModules(dir).find((p) => moduleNameFromPath(p) === name);
}

/**
 * Open a module for reading: by range when plain, whole and decompressed (up to a limit) when
 * compressed. `scratch`: for callers reading thousands one after the other (see FileSource); the
 * reader is valid until the next module opened with the same scratch.
 */
export async function openModule(path: string, scratch?: ReadScratch): Promise<{ reader: ElfReader; close(): void }> {
  let source: FileSource;
  try {
    // Half of Debian 6.1's modules have their symbol and string tables and section headers in the
    // last 16 KiB (a quarter of them are under 16 KiB whole); the others read their big tables
    // apart. The head is the ELF header, and .modinfo for the small ones.
    source = new FileSource(path, { head: 4096, tail: 16 * 1024, scratch });
  } catch (e) {
    throw new KernelDataError(`cannot read module ${path}: ${describe(e)}`);
  }
  const magic = source.read(0, Math.min(6, source.size));
  const kind = compressionOf(magic);
  if (kind === 'none') {
    try {
      return { reader: new ElfReader(source, path), close: () => source.close() };
    } catch (e) {
      // A module refused while its headers are read must not keep its descriptor (--keep-going reads thousands).
      source.close();
      throw e;
    }
  }
  let bytes: Uint8Array;
  try {
    // A compressed file bigger than the limit cannot decompress to less: refused unread.
    if (source.size > MAX_DECOMPRESSED) throw new DecompressError(`${source.size} bytes, more than a module may be (${MAX_DECOMPRESSED})`);
    bytes = await decompress(source.read(0, source.size));
  } catch (e) {
    if (!(e instanceof DecompressError)) throw e;
    throw new KernelDataError(`${path}: cannot decompress (${kind}): ${e.message}`);
  } finally {
    source.close();
  }
  return { reader: new ElfReader(new BufferSource(bytes), path), close: () => {} };
}

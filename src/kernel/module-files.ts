import { type Dirent, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe } from '../io/atomic-write.js';
import { KernelDataError } from './errors.js';

const moduleFile = /\.ko(\.(xz|zst|gz))?$/;

/** Every module file below `dir` (`*.ko`, `*.ko.xz`, `*.ko.zst`, `*.ko.gz`), sorted for stable output. */
export function findModules(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    let entries: Dirent[];
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch (e) {
      throw new KernelDataError(`cannot read modules folder ${d}: ${describe(e)}`);
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if ((e.isFile() || e.isSymbolicLink()) && moduleFile.test(e.name)) out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}

import { KernelDataError } from './errors.js';
import { moduleNameFromPath } from './modinfo.js';
import { VMLINUX } from './symbol-map.js';

export interface Export {
  name: string;
  /** vmlinux, or the module's name as the kernel knows it. */
  object: string;
  exportType: string;
  namespace: string;
}

/** Module.symvers: `CRC\tSYMBOL\tMODULE\tEXPORT_TYPE\tNAMESPACE` per line (Linux ≥ 5.4 layout). */
export function parseSymvers(text: string, source: string): Map<string, Export> {
  const out = new Map<string, Export>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line === '') continue;
    const f = line.split('\t');
    if (f.length < 4 || !/^0x[0-9a-fA-F]+$/.test(f[0])) {
      throw new KernelDataError(
        `${source}:${i + 1}: not a Module.symvers line (expected 'CRC<TAB>SYMBOL<TAB>MODULE<TAB>EXPORT_TYPE'): ${line.slice(0, 80)}`,
      );
    }
    const object = f[2] === VMLINUX ? VMLINUX : moduleNameFromPath(f[2]);
    out.set(f[1], { name: f[1], object, exportType: f[3], namespace: f[4] ?? '' });
  }
  return out;
}

import type { ElfObject } from '../elf/object.js';
import { moduleNameFromPath, parseModinfo } from '../kernel/modinfo.js';

export interface LivepatchInfo {
  /** The module's name as the kernel will know it. */
  name: string;
  /** `livepatch=` is present (the loader checks presence, not the value: check_modinfo_livepatch). */
  livepatch: boolean;
  vermagic: string;
  modinfo: Map<string, string[]>;
}

export function livepatchInfo(obj: ElfObject): LivepatchInfo {
  const sec = obj.sectionByName('.modinfo');
  const modinfo = sec ? parseModinfo(sec.data) : new Map<string, string[]>();
  return {
    name: modinfo.get('name')?.[0] ?? moduleNameFromPath(obj.fileName ?? 'module.ko'),
    livepatch: modinfo.has('livepatch'),
    vermagic: modinfo.get('vermagic')?.[0] ?? '',
    modinfo,
  };
}

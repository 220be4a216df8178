import { STT_FUNC, STT_OBJECT } from '../elf/constants.js';
import type { ElfObject, Section } from '../elf/object.js';

/**
 * Names a place in a module the way a kernel engineer looks for it: `function+0x1f` when a
 * function or object symbol covers the offset, plus the raw `section+0xoffset`.
 */
export class SiteNamer {
  private readonly bySection = new Map<Section, { start: bigint; end: bigint; name: string }[]>();

  constructor(obj: ElfObject) {
    for (const y of obj.symtab?.symbols ?? []) {
      if (!y.section || (y.type !== STT_FUNC && y.type !== STT_OBJECT) || y.name === '') continue;
      const list = this.bySection.get(y.section) ?? [];
      list.push({ start: y.value, end: y.value + (y.size > 0n ? y.size : 1n), name: y.name });
      this.bySection.set(y.section, list);
    }
  }

  /** The symbol covering `offset` in `section`, as `name+0xN`, or undefined. */
  symbolAt(section: Section | null, offset: bigint): string | undefined {
    if (!section) return undefined;
    const hit = this.bySection.get(section)?.find((s) => s.start <= offset && offset < s.end);
    return hit ? `${hit.name}+0x${(offset - hit.start).toString(16)}` : undefined;
  }

  describe(section: Section | null, offset: bigint): string {
    const raw = `${section?.name ?? '?'}+0x${offset.toString(16)}`;
    const fn = this.symbolAt(section, offset);
    return fn ? `${fn} (${raw})` : raw;
  }
}

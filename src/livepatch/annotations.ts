import { Decoder, latin1 } from '../elf/bytes.js';
import { SHT_NOBITS } from '../elf/constants.js';
import type { ElfObject, ElfSymbol, RelocationSection, Section } from '../elf/object.js';
import { FILE_RELOCS_PREFIX, FILE_RELOC_SIZE, MODULE_RELOCS_PREFIX, MODULE_RELOC_SIZE } from './klp-format.js';

/** What the author said about one symbol: which object, and which of its same-named symbols. */
export interface Annotation {
  object: string;
  symbol: ElfSymbol;
  /** KLP_SYMPOS(sym, pos): the kernel's position (0 = must be unique). */
  position?: number;
  /** KLP_SYMFILE(sym, "file.c"): the source file that defines it, resolved through the map. */
  file?: string;
  /** `section[entry]`, for messages. */
  where: string;
}

export interface Annotations {
  list: Annotation[];
  /** Annotation sections and their relocation sections: not part of the output. */
  sections: Set<Section>;
  problems: string[];
}

/**
 * Read `KLP_MODULE_RELOC(obj)` arrays (`.klp.module_relocs.<obj>`, packed
 * `{ u64 sym; u32 sympos; }` entries, the upstream layout) and our `KLP_FILE_RELOC(obj)` arrays
 * (`.klp.file_relocs.<obj>`, `{ u64 sym; char file[120]; }`). Each entry's symbol is the one its
 * `sym` field is relocated against, matched by offset, not by order.
 */
export function readAnnotations(obj: ElfObject): Annotations {
  const out: Annotations = { list: [], sections: new Set(), problems: [] };
  const relocsOf = new Map<Section, RelocationSection>();
  for (const r of obj.relocationSections) if (r.target) relocsOf.set(r.target, r);
  for (const s of obj.sections) {
    const byPosition = s.name.startsWith(MODULE_RELOCS_PREFIX);
    if (!byPosition && !s.name.startsWith(FILE_RELOCS_PREFIX)) continue;
    const object = s.name.slice((byPosition ? MODULE_RELOCS_PREFIX : FILE_RELOCS_PREFIX).length);
    const size = byPosition ? MODULE_RELOC_SIZE : FILE_RELOC_SIZE;
    out.sections.add(s);
    const rela = relocsOf.get(s);
    if (rela) out.sections.add(rela);
    const fail = (msg: string) => out.problems.push(`annotation section ${s.name}: ${msg}`);
    // sh_size of SHT_NOBITS is a claim with no bytes behind it: entries must be in the file.
    if (s.type === SHT_NOBITS) {
      fail('is SHT_NOBITS: its entries are not in the file; was it built with klp-convert.h?');
      continue;
    }
    if (s.size % size !== 0) {
      fail(`size ${s.size} is not a multiple of the ${size}-byte entry; was it built with klp-convert.h?`);
      continue;
    }
    const count = s.size / size;
    const symbols: (ElfSymbol | null)[] = new Array(count).fill(null);
    // Entries already reported, so each gets one message whatever the number of entries.
    const reported = new Set<number>();
    for (const r of rela?.relocations ?? []) {
      const entry = Number(r.offset / BigInt(size));
      const field = Number(r.offset % BigInt(size));
      if (entry >= count || field >= 8) {
        fail(`relocation at offset 0x${r.offset.toString(16)} is not on an entry's symbol field`);
        continue;
      }
      reported.add(entry);
      if (symbols[entry]) fail(`entry ${entry} has more than one relocation`);
      if (!r.symbol || r.symbol.section !== null) {
        // The compiler relocates against a section symbol when the annotated symbol is defined here.
        const name = r.symbol?.section ? `'${r.symbol.name || r.symbol.section.name}', defined in this module` : 'no symbol';
        fail(`entry ${entry} refers to ${name}; annotate only symbols the module declares extern`);
        continue;
      }
      symbols[entry] = r.symbol;
    }
    const d = new Decoder(s.data, obj.header.littleEndian, false);
    for (let i = 0; i < count; i++) {
      const symbol = symbols[i];
      if (!symbol) {
        if (!reported.has(i)) fail(`entry ${i} has no relocation naming its symbol`);
        continue;
      }
      const where = `${s.name}[${i}]`;
      if (byPosition) out.list.push({ object, symbol, position: d.u32(i * size + 8), where });
      else {
        const raw = s.data.subarray(i * size + 8, (i + 1) * size);
        const nul = raw.indexOf(0);
        out.list.push({ object, symbol, file: latin1(raw, 0, nul < 0 ? raw.length : nul), where });
      }
    }
  }
  return out;
}

import { STT_FUNC, STT_OBJECT } from '../elf/constants.js';
import type { ElfObject, Section } from '../elf/object.js';

interface Covering {
  start: bigint;
  end: bigint;
  name: string;
  /** Index in the symbol table: where ranges overlap, the first symbol names the place. */
  index: number;
}

/**
 * One section's symbols as consecutive pieces, each starting at `starts[i]` and named by
 * `owners[i]` (undefined where no symbol covers it) up to the next start: a lookup is one binary
 * search, so naming every relocation of a module costs n log n, not n times its symbols.
 */
interface SectionIndex {
  starts: bigint[];
  owners: (Covering | undefined)[];
}

/**
 * Names a place in a module the way a kernel engineer looks for it: `function+0x1f` when a
 * function or object symbol covers the offset, plus the raw `section+0xoffset`.
 */
export class SiteNamer {
  private readonly bySection = new Map<Section, SectionIndex>();

  constructor(obj: ElfObject) {
    const lists = new Map<Section, Covering[]>();
    const symbols = obj.symtab?.symbols ?? [];
    for (let index = 0; index < symbols.length; index++) {
      const y = symbols[index];
      if (!y.section || (y.type !== STT_FUNC && y.type !== STT_OBJECT) || y.name === '') continue;
      let list = lists.get(y.section);
      if (!list) lists.set(y.section, (list = []));
      list.push({ start: y.value, end: y.value + (y.size > 0n ? y.size : 1n), name: y.name, index });
    }
    for (const [section, list] of lists) this.bySection.set(section, pieces(list));
  }

  /** The symbol covering `offset` in `section`, as `name+0xN`, or undefined. */
  symbolAt(section: Section | null, offset: bigint): string | undefined {
    const index = section ? this.bySection.get(section) : undefined;
    if (!index) return undefined;
    const { starts, owners } = index;
    // The last piece starting at or before offset.
    let lo = 0;
    let hi = starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid] <= offset) lo = mid + 1;
      else hi = mid;
    }
    const hit = lo > 0 ? owners[lo - 1] : undefined;
    return hit ? `${hit.name}+0x${(offset - hit.start).toString(16)}` : undefined;
  }

  describe(section: Section | null, offset: bigint): string {
    const raw = `${section?.name ?? '?'}+0x${offset.toString(16)}`;
    const fn = this.symbolAt(section, offset);
    return fn ? `${fn} (${raw})` : raw;
  }
}

/**
 * Cut a section at every symbol's start and end and give each piece the first symbol (in symbol
 * table order) covering it: a sweep over the boundaries with a heap of the open ranges, smallest
 * index on top; ranges that ended leave the heap when they reach the top.
 */
function pieces(list: Covering[]): SectionIndex {
  const byStart = [...list].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const bounds = [...new Set(list.flatMap((c) => [c.start, c.end]))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const open: Covering[] = [];
  const starts: bigint[] = [];
  const owners: (Covering | undefined)[] = [];
  let next = 0;
  for (const at of bounds) {
    while (next < byStart.length && byStart[next].start === at) heapPush(open, byStart[next++]);
    while (open.length > 0 && open[0].end <= at) heapPop(open);
    const owner = open[0];
    // Adjacent pieces of one symbol are one piece.
    if (owners.length > 0 && owners[owners.length - 1] === owner) continue;
    starts.push(at);
    owners.push(owner);
  }
  return { starts, owners };
}

function heapPush(heap: Covering[], c: Covering): void {
  let i = heap.push(c) - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (heap[parent].index <= c.index) break;
    heap[i] = heap[parent];
    i = parent;
  }
  heap[i] = c;
}

function heapPop(heap: Covering[]): void {
  const last = heap.pop()!;
  if (heap.length === 0) return;
  let i = 0;
  for (;;) {
    let child = 2 * i + 1;
    if (child >= heap.length) break;
    if (child + 1 < heap.length && heap[child + 1].index < heap[child].index) child++;
    if (heap[child].index >= last.index) break;
    heap[i] = heap[child];
    i = child;
  }
  heap[i] = last;
}

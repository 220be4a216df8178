/**
 * Unified diffs (`git diff`, `-p1`) as `klp-convert create` reads them: which files a patch
 * touches, which lines of each file it edits, and the `#line` directives that keep the line
 * numbers of unchanged code stable in the patched file.
 */
import { UserError } from '../errors.js';

export interface FilePatch {
  /** Path relative to the kernel source root (the `b/` side, or `a/` for a deletion). */
  path: string;
  oldPath: string | null;
  newPath: string | null;
  hunks: Hunk[];
}

export interface Hunk {
  oldStart: number;
  oldCount: number;
  newStart: number;
  newCount: number;
  /** Text after the second `@@` (git's function context). */
  context: string;
  /** Lines with their first character (' ', '-', '+', '\\'). */
  lines: string[];
}

export class PatchFormatError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'PatchFormatError';
  }
}

function stripPrefix(p: string): string | null {
  const path = p.split('\t')[0].trim();
  if (path === '/dev/null') return null;
  // -p1: drop the first component, as `patch -p1` does with git's a/ and b/.
  const slash = path.indexOf('/');
  return slash < 0 ? path : path.slice(slash + 1);
}

const HUNK = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)$/;

/** Parse every file section of a unified diff. Text outside file sections (mail headers) is ignored. */
export function parsePatch(text: string, source: string): FilePatch[] {
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const files: FilePatch[] = [];
  let i = 0;
  while (i < lines.length) {
    if (!(lines[i].startsWith('--- ') && i + 1 < lines.length && lines[i + 1].startsWith('+++ '))) {
      i++;
      continue;
    }
    const oldPath = stripPrefix(lines[i].slice(4));
    const newPath = stripPrefix(lines[i + 1].slice(4));
    const path = newPath ?? oldPath;
    if (path === null) throw new PatchFormatError(`${source}:${i + 1}: both sides of a file are /dev/null`);
    const fp: FilePatch = { path, oldPath, newPath, hunks: [] };
    i += 2;
    while (i < lines.length && lines[i].startsWith('@@')) {
      const m = HUNK.exec(lines[i]);
      if (!m) throw new PatchFormatError(`${source}:${i + 1}: malformed hunk header '${lines[i]}'`);
      const h: Hunk = {
        oldStart: Number(m[1]),
        oldCount: m[2] === undefined ? 1 : Number(m[2]),
        newStart: Number(m[3]),
        newCount: m[4] === undefined ? 1 : Number(m[4]),
        context: m[5],
        lines: [],
      };
      i++;
      let oldLeft = h.oldCount;
      let newLeft = h.newCount;
      while (i < lines.length && (oldLeft > 0 || newLeft > 0 || lines[i].startsWith('\\'))) {
        const l = lines[i];
        const c = l[0] ?? ' ';
        if (c === ' ' || l === '') {
          oldLeft--;
          newLeft--;
        } else if (c === '-') oldLeft--;
        else if (c === '+') newLeft--;
        else if (c !== '\\') break;
        h.lines.push(l === '' ? ' ' : l);
        i++;
      }
      if (oldLeft !== 0 || newLeft !== 0)
        throw new PatchFormatError(`${source}: hunk of ${path} at line ${h.oldStart} is truncated or miscounted`);
      fp.hunks.push(h);
    }
    files.push(fp);
  }
  if (files.length === 0) throw new PatchFormatError(`${source}: not a unified diff (no '--- a/...' / '+++ b/...' file header)`);
  return files;
}

/**
 * Add `#line N` after each run of changed lines of a C file, N being the old file's number of
 * the next unchanged line, so that the code after a change keeps its original `__LINE__` (WARN,
 * BUG, might_sleep and printk sites of unchanged functions stay byte-identical). This is what
 * klp-build's scripts/livepatch/fix-patch-lines does (Linux 6.19+). A run ending inside a macro
 * continuation (the previous line ends in a backslash) gets no directive: it would end the macro.
 */
export function withLineDirectives(fp: FilePatch): FilePatch {
  if (!/\.[ch]$/.test(fp.path) || fp.oldPath === null || fp.newPath === null) return fp;
  const hunks = fp.hunks.map((h) => {
    const out: string[] = [];
    let oldLine = h.oldStart;
    let added = 0;
    let inRun = false;
    let prevNew = '';
    for (const l of h.lines) {
      const c = l[0];
      if (c === ' ') {
        if (inRun && !prevNew.endsWith('\\')) {
          out.push(`+#line ${oldLine}`);
          added++;
        }
        inRun = false;
        out.push(l);
        oldLine++;
        prevNew = l.slice(1);
      } else if (c === '-') {
        inRun = true;
        out.push(l);
        oldLine++;
      } else if (c === '+') {
        inRun = true;
        out.push(l);
        prevNew = l.slice(1);
      } else out.push(l);
    }
    return { ...h, newCount: h.newCount + added, lines: out };
  });
  // Later hunks start further down in the new file by the directives added before them.
  let shift = 0;
  for (const h of hunks) {
    const orig = fp.hunks[hunks.indexOf(h)];
    h.newStart += shift;
    shift += h.newCount - orig.newCount;
  }
  return { ...fp, hunks };
}

export function formatFilePatch(fp: FilePatch): string {
  const out = [
    `--- ${fp.oldPath === null ? '/dev/null' : `a/${fp.oldPath}`}`,
    `+++ ${fp.newPath === null ? '/dev/null' : `b/${fp.newPath}`}`,
  ];
  for (const h of fp.hunks) {
    out.push(`@@ -${h.oldStart},${h.oldCount} +${h.newStart},${h.newCount} @@${h.context}`, ...h.lines);
  }
  return `${out.join('\n')}\n`;
}

/** Line numbers of the old file that the patch removes or inserts after (1-based). */
export function editedOldLines(fp: FilePatch): Set<number> {
  const edited = new Set<number>();
  for (const h of fp.hunks) {
    let oldLine = h.oldStart;
    for (const l of h.lines) {
      if (l[0] === ' ') oldLine++;
      else if (l[0] === '-') edited.add(oldLine++);
      else if (l[0] === '+') edited.add(Math.max(1, oldLine - 1));
    }
  }
  return edited;
}

/**
 * Function definitions of a C file in kernel coding style (Documentation/process/coding-style.rst
 * §6: the opening brace of a function body on a line of its own at column 0, the closing one
 * too): name and line range. Enough to say which functions a patch edits; macros that define
 * functions (SYSCALL_DEFINE...) are named by the macro's first argument.
 */
export function functionRanges(source: string): { name: string; first: number; last: number }[] {
  const lines = source.split('\n');
  const out: { name: string; first: number; last: number }[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== '{') continue;
    // The signature: lines above, back to the first one starting at column 0 with an identifier.
    let s = i - 1;
    while (s > 0 && !/^[A-Za-z_]/.test(lines[s])) s--;
    const sig = lines.slice(s, i).join(' ');
    const macro = /^\s*(?:[A-Z_][A-Z0-9_]*DEFINE[0-9]*)\(\s*(\w+)/.exec(sig);
    const m = macro ?? /(\w+)\s*\([^()]*(?:\([^()]*\)[^()]*)*\)\s*(?:__\w+\s*)*$/.exec(sig) ?? /(\w+)\s*\(/.exec(sig);
    let e = i + 1;
    while (e < lines.length && lines[e] !== '}') e++;
    if (m) out.push({ name: m[1], first: s + 1, last: e + 1 });
    i = e;
  }
  return out;
}

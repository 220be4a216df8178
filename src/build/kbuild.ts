import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { UserError } from '../errors.js';

export class BuildError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'BuildError';
  }
}

export interface KbuildResult {
  /** Every module kbuild built, from modules.order. */
  modules: string[];
  /** kbuild's output less modpost's "undefined!" lines, which the conversion judges for itself. */
  output: string;
}

/** One line of modpost's unresolved-symbol report. */
export type ModpostLine = { symbol: string; module: string } | { suppressed: number };

/**
 * modpost's report of unresolved symbols (scripts/mod/modpost.c, check_exports() and main()):
 * `"S" [X.ko] undefined!` up to Linux 6.x, `X.ko: symbol 'S' undefined!` in 7.x, as WARNING with
 * KBUILD_MODPOST_WARN=1 (else ERROR); only the first 10, then `suppressed N unresolved symbol
 * warnings because there were too many)`. Names lose a `.<digits>` suffix (remove_dot()), so these
 * lines cannot say which symbol of the module is meant: they are for people, never for decisions.
 */
export function parseModpostLine(line: string): ModpostLine | undefined {
  const m = /^(?:WARNING|ERROR): modpost: (?:"([^"]+)" \[([^\]]+)\]|(.+): symbol '([^']+)') undefined!$/.exec(line);
  if (m) return m[1] !== undefined ? { symbol: m[1], module: m[2] } : { symbol: m[4], module: m[3] };
  const s = /^(?:WARNING|ERROR): modpost: suppressed (\d+) unresolved symbol warnings?\b/.exec(line);
  return s ? { suppressed: Number(s[1]) } : undefined;
}

/**
 * Characters a path may hold to reach kbuild as data: M= and KCFLAGS are expanded by make (`$`,
 * `#`, `:`, `%`, `=`) and pasted into shell recipes (quotes, `;`, `|`, `&`, spaces, backslashes),
 * and kbuild cannot quote them (scripts/Makefile.*). A folder named `x$(shell touch f)` runs
 * `touch` in make, one named `a;touch f;b` runs it in a recipe. Only these pass.
 */
const KBUILD_SAFE_PATH = /^[A-Za-z0-9_./+,@~-]+$/;

function checkKbuildPath(path: string, what: string): void {
  if (KBUILD_SAFE_PATH.test(path)) return;
  const bad = [...new Set([...path].filter((c) => !KBUILD_SAFE_PATH.test(c)))].map((c) => JSON.stringify(c)).join(' ');
  throw new BuildError(
    `cannot build with ${what} ${JSON.stringify(path)}: kbuild would run its characters ${bad} as make or shell code; ` +
      `use a folder whose path has only letters, digits and . _ - + , @ ~ /`,
  );
}

/**
 * `make -C KDIR M=DIR modules` with klp-convert.h on the include path and modpost's
 * undefined-symbol errors made warnings (KBUILD_MODPOST_WARN=1): references to non-exported
 * symbols are what the conversion is for.
 */
/**
 * @param extra.cflags  more compiler flags for every object of the module (KCFLAGS, after the caller's own)
 * @param extra.vars    more make variables (NAME=value)
 */
export function runKbuild(
  dir: string,
  kdir: string,
  includeDir: string,
  jobs = availableParallelism(),
  extra: { cflags?: string[]; vars?: string[] } = {},
): KbuildResult {
  const absDir = resolve(dir);
  const absKdir = resolve(kdir);
  checkKbuildPath(absDir, 'the module folder');
  checkKbuildPath(absKdir, 'the kernel build tree');
  checkKbuildPath(includeDir, 'the include folder');
  if (!existsSync(join(absKdir, 'Makefile'))) {
    throw new BuildError(`no kernel build tree at ${kdir}: install the headers of that kernel (e.g. linux-headers-amd64) or give --kdir`);
  }
  if (!existsSync(join(absDir, 'Makefile')) && !existsSync(join(absDir, 'Kbuild'))) {
    throw new BuildError(`${absDir} has no Makefile or Kbuild file naming the modules to build (e.g. 'obj-m := my_patch.o')`);
  }
  const kcflags = [process.env.KCFLAGS, `-I${includeDir}`, ...(extra.cflags ?? [])].filter(Boolean).join(' ');
  const r = spawnSync(
    'make',
    ['-C', absKdir, `M=${absDir}`, `-j${jobs}`, 'KBUILD_MODPOST_WARN=1', `KCFLAGS=${kcflags}`, ...(extra.vars ?? []), 'modules'],
    {
      encoding: 'utf8',
      maxBuffer: 1 << 26,
    },
  );
  if (r.error) throw new BuildError(`cannot run make: ${r.error.message}`);
  const output = `${r.stdout}${r.stderr}`
    .split('\n')
    .filter((l) => !parseModpostLine(l))
    .join('\n')
    .trim();
  if (r.status !== 0) throw new BuildError(`kbuild failed in ${absDir} (make exit ${r.status}):\n${output}`);
  const order = join(absDir, 'modules.order');
  const modules = existsSync(order)
    ? readFileSync(order, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((p) => resolve(absDir, p.replace(/\.o$/, '.ko')))
    : [];
  return { modules, output };
}

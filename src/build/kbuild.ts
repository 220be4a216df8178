import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
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
  /** Per module, the symbols modpost reported undefined (downgraded to warnings). */
  undefinedSymbols: Map<string, string[]>;
  /** kbuild's output with those modpost lines taken out. */
  output: string;
}

const MODPOST_UNDEFINED = /^(?:WARNING|ERROR): modpost: "([^"]+)" \[([^\]]+)\] undefined!$/;

/**
 * `make -C KDIR M=DIR modules` with klp-convert.h on the include path and modpost's
 * undefined-symbol errors made warnings (KBUILD_MODPOST_WARN=1): references to non-exported
 * symbols are what the conversion is for.
 */
export function runKbuild(dir: string, kdir: string, includeDir: string, jobs = availableParallelism()): KbuildResult {
  const absDir = resolve(dir);
  if (!existsSync(join(kdir, 'Makefile'))) {
    throw new BuildError(`no kernel build tree at ${kdir}: install the headers of that kernel (e.g. linux-headers-amd64) or give --kdir`);
  }
  if (!existsSync(join(absDir, 'Makefile')) && !existsSync(join(absDir, 'Kbuild'))) {
    throw new BuildError(`${absDir} has no Makefile or Kbuild file naming the modules to build (e.g. 'obj-m := my_patch.o')`);
  }
  const kcflags = [process.env.KCFLAGS, `-I${includeDir}`].filter(Boolean).join(' ');
  const r = spawnSync('make', ['-C', kdir, `M=${absDir}`, `-j${jobs}`, 'KBUILD_MODPOST_WARN=1', `KCFLAGS=${kcflags}`, 'modules'], {
    encoding: 'utf8', maxBuffer: 1 << 26,
  });
  if (r.error) throw new BuildError(`cannot run make: ${r.error.message}`);
  const undefinedSymbols = new Map<string, string[]>();
  const kept: string[] = [];
  for (const line of `${r.stdout}${r.stderr}`.split('\n')) {
    const m = MODPOST_UNDEFINED.exec(line);
    if (!m) {
      kept.push(line);
      continue;
    }
    const ko = isAbsolute(m[2]) ? m[2] : resolve(absDir, m[2]);
    undefinedSymbols.set(ko, [...(undefinedSymbols.get(ko) ?? []), m[1]]);
  }
  const output = kept.join('\n').trim();
  if (r.status !== 0) throw new BuildError(`kbuild failed in ${absDir} (make exit ${r.status}):\n${output}`);
  const order = join(absDir, 'modules.order');
  const modules = existsSync(order)
    ? readFileSync(order, 'utf8').split('\n').filter(Boolean).map((p) => resolve(absDir, p.replace(/\.o$/, '.ko')))
    : [];
  return { modules, undefinedSymbols, output };
}

import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after } from 'node:test';
import { main } from '../src/cli/main.js';
import { cacheRoot } from '../src/kernel/cache.js';

export const repoRoot = resolve(import.meta.dirname, '..');
/** The CLI from its TypeScript sources, through tsx: tests run the code under test, never a stale dist/. */
export const cliArgs = ['--import', import.meta.resolve('tsx'), join(repoRoot, 'src', 'cli', 'bin.ts')];

/** A temporary folder removed when the test file ends. */
export function tempDir(prefix = 'klpc-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Compile C source with the machine's gcc into `dir/name.o`. */
export function compile(dir: string, name: string, source: string, flags: string[] = []): string {
  const src = join(dir, `${name}.c`);
  const obj = join(dir, `${name}.o`);
  writeFileSync(src, source);
  execFileSync('gcc', ['-c', '-O2', ...flags, src, '-o', obj], { stdio: ['ignore', 'ignore', 'inherit'] });
  return obj;
}

export function readelf(flags: string, file: string): string {
  return execFileSync('readelf', [...flags.split(' '), file], { encoding: 'utf8', maxBuffer: 1 << 28 });
}

/** readelf output with file offsets masked, for comparing files whose layout may differ. */
export function readelfNoOffsets(file: string): string {
  return readelf('-hSsrW', file)
    .replace(/^(\s+\[\s*\d+\]\s+\S*\s+\S+\s+[0-9a-f]+\s+)[0-9a-f]+/gm, '$1<off>')
    .replace(/^(Relocation section '[^']*' at offset )0x[0-9a-f]+/gm, '$1<off>')
    .replace(/^(\s+Start of section headers:\s+)\d+/m, '$1<off>');
}

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** The CLI in a process of its own: for a working folder or environment of its own, and the bin entry. */
export function runCli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): CliResult {
  const r = spawnSync(process.execPath, [...cliArgs, ...args], {
    encoding: 'utf8',
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    maxBuffer: 1 << 28,
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/**
 * The CLI in this process: main() with its output captured, exit status as returned. Saves a node
 * (and tsx) start per call; the command code run is the same.
 */
export async function runCliInProcess(args: string[]): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const status = await main(args, { out: (t) => void (stdout += t), err: (t) => void (stderr += t), errIsTty: false });
  return { status, stdout, stderr };
}

export function listDir(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir) : [];
}

export interface DebianKernel {
  /** The release, `uname -r` of that kernel (e.g. 6.12.95+deb12-amd64). */
  kver: string;
  /** The headers tree to build modules against (`--kdir`). */
  kdir: string;
  /** Its modules folder (lib/modules/<release>, usr/lib/modules/<release> from 7.x). */
  modules: string;
  /** The ELF kernel qemu boots (from the bzImage). */
  vmlinux: string;
  /** Its /proc/kallsyms, dumped once from it under qemu. */
  kallsyms: string;
  symvers: string;
  /** The -dbg package's vmlinux with its full symbol table, when it was fetched (`--dbg`). */
  dbgVmlinux: string | undefined;
}

/**
 * The Debian kernel release the tests target: $KVER (scripts/test.sh sets it), else the release
 * of the installed linux-headers-amd64, as scripts/setup-debian.sh picks it.
 */
export function targetRelease(): string | undefined {
  if (process.env.KVER) return process.env.KVER;
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own ${field} syntax
  const r = spawnSync('dpkg-query', ['-W', '-f=${Depends}', 'linux-headers-amd64'], { encoding: 'utf8' });
  return /linux-headers-(\S+?-amd64)\b/.exec(r.stdout ?? '')?.[1];
}

/** The target Debian kernel as scripts/debian-kernel.sh unpacked it, if it is there. */
export function debianKernel(): DebianKernel | undefined {
  const kver = targetRelease();
  if (!kver) return undefined;
  const dir = join(cacheRoot(), 'debian', kver);
  const root = join(dir, 'root');
  // Up to 6.12 the image puts its files in lib/modules and boot/; from 7.x in usr/lib/modules.
  const modules = [join(root, 'lib', 'modules', kver), join(root, 'usr', 'lib', 'modules', kver)].find((m) =>
    existsSync(join(m, 'kernel')),
  );
  if (!modules) return undefined;
  const kdir = join(root, 'usr', 'src', `linux-headers-${kver}`);
  const dbg = join(dir, 'vmlinux-dbg');
  return {
    kver,
    kdir,
    modules,
    vmlinux: join(dir, 'vmlinux'),
    kallsyms: join(dir, 'kallsyms.txt'),
    symvers: join(kdir, 'Module.symvers'),
    dbgVmlinux: existsSync(dbg) ? dbg : undefined,
  };
}

/** The Debian kernel, or a failure telling how to get it (the test command fetches it). */
export function requireDebianKernel(): DebianKernel {
  const k = debianKernel();
  if (!k || !existsSync(k.kallsyms) || !existsSync(k.symvers)) {
    throw new Error(
      `Debian kernel ${targetRelease() ?? '(no KVER)'} missing: run KVER=<release> scripts/setup-debian.sh (scripts/test.sh does it first)`,
    );
  }
  return k;
}

/**
 * A Debian module as a plain .ko (copied into `dir` when decompressed): 6.12 and later ship .ko.xz,
 * which busybox's insmod does not load.
 */
export function plainModule(kernel: DebianKernel, path: string, dir: string): string {
  const file = join(kernel.modules, 'kernel', path);
  if (existsSync(file)) return file;
  const plain = join(dir, path.split('/').pop()!);
  writeFileSync(plain, execFileSync('xz', ['-dc', `${file}.xz`], { maxBuffer: 1 << 28 }));
  return plain;
}

/** Copy module sources, leaving out what a kbuild run in the checkout may have left there. */
export function copySources(from: string, to: string): void {
  cpSync(from, to, { recursive: true, filter: (p) => !/\.(o|ko|mod|mod\.c|cmd)$|modules\.order$|Module\.symvers$/.test(p) });
}

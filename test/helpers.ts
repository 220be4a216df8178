import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after } from 'node:test';
import { main } from '../src/cli/main.js';

export const repoRoot = resolve(import.meta.dirname, '..');
/** The CLI from its TypeScript sources, through tsx: tests run the code under test, never a stale dist/. */
const cliArgs = ['--import', import.meta.resolve('tsx'), join(repoRoot, 'src', 'cli', 'bin.ts')];

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
  const r = spawnSync(process.execPath, [...cliArgs, ...args], { encoding: 'utf8', cwd: opts.cwd, env: { ...process.env, ...opts.env }, maxBuffer: 1 << 28 });
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

/** The Debian kernel unpacked (and its kallsyms dumped) by scripts/setup-debian.sh, if it is there. */
export function debianKernel(): { kver: string; kimg: string; modules: string; vmlinux: string; kallsyms: string; symvers: string; kdir: string } | undefined {
  const cache = join(repoRoot, '.cache', 'debian');
  const kimgDir = listDir(cache).find((d) => d.startsWith('kimg-'));
  if (!kimgDir) return undefined;
  const kver = kimgDir.slice('kimg-'.length);
  return {
    kver,
    kimg: join(cache, kimgDir),
    modules: join(cache, kimgDir, 'lib', 'modules', kver),
    vmlinux: join(cache, `vmlinux-${kver}`),
    kallsyms: join(cache, `kallsyms-${kver}.txt`),
    symvers: `/usr/src/linux-headers-${kver}/Module.symvers`,
    // The headers package's tree; /lib/modules/<release>/build points there only when that kernel's modules are installed.
    kdir: `/usr/src/linux-headers-${kver}`,
  };
}

/** The Debian kernel, or a failure telling how to get it (the test command installs it). */
export function requireDebianKernel(): NonNullable<ReturnType<typeof debianKernel>> {
  const k = debianKernel();
  if (!k || !existsSync(k.kallsyms) || !existsSync(k.symvers)) {
    throw new Error('Debian kernel data missing: run scripts/setup-debian.sh (scripts/test.sh does it first)');
  }
  return k;
}

/** Copy module sources, leaving out what a kbuild run in the checkout may have left there. */
export function copySources(from: string, to: string): void {
  cpSync(from, to, { recursive: true, filter: (p) => !/\.(o|ko|mod|mod\.c|cmd)$|modules\.order$|Module\.symvers$/.test(p) });
}

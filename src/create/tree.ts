/**
 * The target kernel's own source, configured and prepared once per release in a cache outside
 * the checkout, and the compilation of single translation units in it with the exact command the
 * kernel's build used. Debian only: the recipe is the one measured for Debian's 6.1 kernel
 * (../shared/reference/debian-kernels.md §3), where a rebuilt translation unit is byte-identical to
 * the shipped kernel.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { cacheRoot } from '../kernel/cache.js';
import { fileURLToPath } from 'node:url';
import { BuildError } from '../build/kbuild.js';

export class CreateError extends BuildError {
  constructor(message: string) {
    super(message);
    this.name = 'CreateError';
  }
}

export type Progress = (step: string) => void;

/** What identifies the target kernel's build: read from its headers package. */
export interface KernelTarget {
  release: string;
  /** Debian package version of the kernel (6.1.192-2): the linux-source version that built it. */
  packageVersion: string;
  /** Upstream major.minor (6.1): the linux-source-<ver> package name. */
  series: string;
  headers: string;
  /** CONFIG_CC_VERSION_TEXT: the compiler that built the kernel. */
  ccVersionText: string;
  /** The compiler command (gcc-12): the first word of CONFIG_CC_VERSION_TEXT. */
  cc: string;
  /** Whether the kernel was configured with a Rust toolchain at hand (CONFIG_RUST_IS_AVAILABLE). */
  rust: boolean;
  /**
   * The private root of the kernel's Debian release (scripts/debian-root.sh) that builds for this
   * kernel run in, when the host's release cannot build it (7.x: gcc-14, trixie's glibc): the one
   * scripts/debian-kernel.sh made the headers' Makefile re-run make in. Null: the host builds.
   */
  root: string | null;
}

/** The headers of a release: installed, or fetched by scripts/debian-kernel.sh into the cache. */
export function headersDir(release: string): string {
  const candidates = [
    `/usr/src/linux-headers-${release}`,
    join(cacheRoot(), 'debian', release, 'root', 'usr', 'src', `linux-headers-${release}`),
  ];
  const found = candidates.find((d) => existsSync(join(d, '.config')));
  if (!found)
    throw new CreateError(
      `no headers for kernel ${release} (looked in ${candidates.join(', ')}): install linux-headers-${release} or run scripts/debian-kernel.sh ${release}`,
    );
  return found;
}

export function kernelTarget(release: string): KernelTarget {
  const headers = headersDir(release);
  const pkgFile = join(headers, 'include', 'generated', 'package.h');
  // Debian's kernel build writes its package version into LINUX_PACKAGE_ID (debian/rules.real).
  const pkg = existsSync(pkgFile) ? /LINUX_PACKAGE_ID\s+" Debian ([^"\s]+)"/.exec(readFileSync(pkgFile, 'utf8')) : null;
  if (!pkg) throw new CreateError(`${pkgFile}: no Debian package version (LINUX_PACKAGE_ID): only Debian kernels are supported`);
  const config = readFileSync(join(headers, '.config'), 'utf8');
  const cc = /^CONFIG_CC_VERSION_TEXT="([^"]*)"/m.exec(config);
  if (!cc) throw new CreateError(`${headers}/.config has no CONFIG_CC_VERSION_TEXT`);
  const series = /^(\d+\.\d+)/.exec(pkg[1]);
  if (!series) throw new CreateError(`cannot read the kernel series from package version ${pkg[1]}`);
  if (!/^CONFIG_LIVEPATCH=y/m.test(config)) throw new CreateError(`kernel ${release} is built without CONFIG_LIVEPATCH`);
  const wrapped = /KLP_CONVERT_IN_ROOT=1 (\S+)\/enter /.exec(readFileSync(join(headers, 'Makefile'), 'utf8'));
  return {
    release,
    packageVersion: pkg[1],
    series: series[1],
    headers,
    ccVersionText: cc[1],
    cc: cc[1].split(' ')[0],
    rust: /^CONFIG_RUST_IS_AVAILABLE=y/m.test(config),
    root: wrapped ? wrapped[1] : null,
  };
}

export interface Tree {
  target: KernelTarget;
  src: string;
  /** Debian builds out of tree here (seen in the -dbg vmlinux's DW_AT_comp_dir). */
  build: string;
}

/**
 * Make variables and environment of Debian's kernel build (debian/rules.real of linux 6.1 and
 * 6.12; measured in debian-kernels.md §3): without DISTRIBUTION_* lib/dump_stack.c gets another
 * package string, without CC=<the kernel's compiler> CONFIG_CC_VERSION_TEXT changes, without
 * KERNELRELEASE vermagic does. 6.12 builds with CROSS_COMPILE=x86_64-linux-gnu- (the headers'
 * Makefile says so; its compiler is x86_64-linux-gnu-gcc-12): the prefix of the compiler's name.
 * Debian builds without rustc: a host rustc would change kconfig's RUSTC_VERSION (6.12,
 * scripts/rustc-version.sh prints 0 when `$(RUSTC) --version` fails) or RUST_IS_AVAILABLE (6.1),
 * so RUSTC=false hides it unless the kernel was configured with one (7.3: then the private root's
 * rustc, bindgen and rust-src, which olddefconfig checks against CONFIG_RUSTC_VERSION_TEXT).
 */
export function makeInvocation(tree: Tree): { args: string[]; env: NodeJS.ProcessEnv } {
  const t = tree.target;
  const cross = /^(.*-)gcc(-\d+)?$/.exec(t.cc)?.[1];
  return {
    args: [
      // Run where the top Makefile's __sub-make would re-run make (`-C <output> -f
      // <source>/Makefile`; it does not when make already runs there with --no-print-directory:
      // need-sub-make, 6.1 to 7.3), so that `-o prepare` (makeInTree), which make does not pass to
      // sub-makes, reaches the make that builds.
      '--no-print-directory',
      '-C',
      resolve(tree.build),
      '-f',
      resolve(tree.src, 'Makefile'),
      `O=${resolve(tree.build)}`,
      'ARCH=x86',
      ...(cross ? [`CROSS_COMPILE=${cross}`] : []),
      `CC=${t.cc}`,
      `KERNELRELEASE=${t.release}`,
      ...(t.rust ? [] : ['RUSTC=false']),
      'KBUILD_BUILD_USER=debian-kernel',
      'KBUILD_BUILD_HOST=lists.debian.org',
    ],
    env: {
      ...process.env,
      DISTRIBUTION_OFFICIAL_BUILD: '1',
      DISTRIBUTOR: 'Debian',
      DISTRIBUTION_VERSION: t.packageVersion,
      KCFLAGS: '',
      KBUILD_OUTPUT: '',
    },
  };
}

/**
 * A build command of the kernel (make, the compiler, a replayed compile command): on the host, or
 * in the kernel's private root with that root's own PATH: the host's (a rustup rustc under
 * /root, which the root mounts too) would change kconfig's RUSTC_VERSION.
 */
function buildCommand(t: KernelTarget, cmd: string, args: string[]): [string, string[]] {
  return t.root ? [join(t.root, 'enter'), ['env', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', cmd, ...args]] : [cmd, args];
}

function runBuild(t: KernelTarget, cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; what: string }): string {
  const [c, a] = buildCommand(t, cmd, args);
  return run(c, a, opts);
}

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; what: string }): string {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, env: opts.env, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.error) throw new CreateError(`${opts.what}: cannot run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) {
    const tail = `${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-15).join('\n');
    throw new CreateError(`${opts.what} failed (${cmd} exit ${r.status}):\n${tail}`);
  }
  return r.stdout;
}

/** scripts/debian-root.sh, from src/create or dist/create. */
const ROOT_HELPER = fileURLToPath(new URL('../../scripts/debian-root.sh', import.meta.url));

/**
 * The tools `olddefconfig` and the tree's preparation need (kconfig, objtool, resolve_btfids'
 * libbpf, sign-file, kconfig's `openssl list` probe of certs/Kconfig in 7.3, and the Rust toolchain
 * when the kernel was configured with one: without it kconfig's RUST_IS_AVAILABLE, which runs
 * scripts/rust_is_available.sh (rustc, bindgen and its libclang, rust-src), would turn CONFIG_RUST
 * off): checked on the host, installed into a private root (Debian package names of the root's
 * release).
 */
function checkHostTools(t: KernelTarget, progress: Progress): void {
  if (t.root) {
    const pkgs = ['gcc', 'flex', 'bison', 'bc', 'python3', 'openssl', 'libelf-dev', 'libssl-dev'];
    if (t.rust) pkgs.push('rustc', 'rust-src', 'bindgen', 'libclang-dev');
    progress(`tools for the tree in the private root ${t.root}`);
    // The root the headers' Makefile enters, in the cache it was made in (<cache>/roots/<suite>),
    // which need not be this run's cache: the helper would otherwise make a second root there.
    run('bash', [ROOT_HELPER, basename(t.root), ...pkgs], {
      env: { ...process.env, KLP_CACHE: dirname(dirname(t.root)) },
      what: `scripts/debian-root.sh ${basename(t.root)}`,
    });
    return;
  }
  const cc = t.cc;
  const missing: string[] = [];
  for (const [tool, pkg] of [
    ['flex', 'flex'],
    ['bison', 'bison'],
    ['pahole', 'dwarves'],
    [cc, cc],
    ['make', 'make'],
  ] as const) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) missing.push(pkg);
  }
  if (!existsSync('/usr/include/gelf.h')) missing.push('libelf-dev');
  if (!existsSync('/usr/include/openssl/ssl.h')) missing.push('libssl-dev');
  if (missing.length > 0)
    throw new CreateError(`preparing a kernel tree needs: ${missing.join(' ')} (apt-get install ${missing.join(' ')})`);
}

/**
 * The compiler on this machine (or in the kernel's private root) must be the one that built the kernel: its version text must be
 * CONFIG_CC_VERSION_TEXT (what kconfig records from `$(CC) --version`, scripts/Kconfig.include).
 * Returns what is wrong, or null.
 */
export function compilerProblem(t: KernelTarget): string | null {
  const [cmd, args] = buildCommand(t, t.cc, ['--version']);
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  const first = r.status === 0 ? r.stdout.split('\n')[0] : '';
  if (first === t.ccVersionText) return null;
  const where = t.root ? `the private root ${t.root}` : 'this machine';
  return first
    ? `its compiler '${t.ccVersionText}' (${where}'s ${t.cc} is '${first}')`
    : `its compiler ${t.cc} ('${t.ccVersionText}'), not ${t.root ? 'in' : 'on'} ${where}`;
}

/** scripts/debian-apt.sh, from src/create or dist/create. */
const APT_HELPER = fileURLToPath(new URL('../../scripts/debian-apt.sh', import.meta.url));

/**
 * How apt is asked about the kernel's source: through the private configuration of the Debian
 * suite scripts/debian-kernel.sh fetched the kernel from (its `<cache>/debian/<rel>/suite`; the
 * apt logic is scripts/debian-apt.sh's), else through the system's sources (an installed kernel).
 */
function aptFor(release: string): { tool: (name: 'apt-get' | 'apt-cache', args: string[]) => [string, string[]]; where: string } {
  const suiteFile = join(cacheRoot(), 'debian', release, 'suite');
  const suite = existsSync(suiteFile) ? readFileSync(suiteFile, 'utf8').trim() : '';
  if (!suite) return { tool: (name, args) => [name, args], where: "the system's apt sources" };
  return { tool: (name, args) => ['bash', [APT_HELPER, suite, name, ...args]], where: `Debian ${suite}` };
}

/** The served versions of a package. */
function servedVersions(apt: ReturnType<typeof aptFor>, pkg: string): string[] {
  const [cmd, args] = apt.tool('apt-cache', ['madison', pkg]);
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.status === 0
    ? r.stdout
        .split('\n')
        .map((l) => l.split('|')[1]?.trim())
        .filter((v): v is string => !!v)
    : [];
}

/**
 * Source and prepared build folder of the target kernel, made once: `apt-get download
 * linux-source-<series>=<version>` (refused when the archive does not serve the kernel's exact
 * version), extract, the headers' .config, `olddefconfig` (must leave it unchanged), then what
 * `prepare` makes for C units (prepareGoals). Each step leaves a stamp, so an interrupted
 * preparation resumes.
 */
export function prepareTree(target: KernelTarget, progress: Progress): Tree {
  const base = join(cacheRoot(), 'trees', target.release);
  const src = join(base, `linux-source-${target.series}`);
  const tree: Tree = { target, src, build: join(src, 'debian', 'build', 'build_amd64_none_amd64') };
  const extracted = join(base, 'source.done');
  const prepared = join(base, 'prepared.done');
  if (existsSync(prepared)) return tree;
  checkHostTools(target, progress);
  mkdirSync(base, { recursive: true });
  if (!existsSync(extracted)) {
    const pkg = `linux-source-${target.series}`;
    const apt = aptFor(target.release);
    const versions = servedVersions(apt, pkg);
    if (!versions.includes(target.packageVersion)) {
      throw new CreateError(
        `kernel ${target.release} is Debian ${target.packageVersion}, but ${apt.where} serve${apt.where.startsWith('the') ? '' : 's'} ${pkg} ${versions.length ? versions.join(', ') : '(none)'}: the source must be the kernel's exact version (update the kernel, or add the suite that has it)`,
      );
    }
    const dl = join(base, 'download');
    rmSync(dl, { recursive: true, force: true });
    mkdirSync(dl, { recursive: true });
    progress(`downloading ${pkg}=${target.packageVersion} (${apt.where})`);
    const [cmd, args] = apt.tool('apt-get', ['download', '-q', `${pkg}=${target.packageVersion}`]);
    run(cmd, args, { cwd: dl, what: `apt-get download ${pkg}` });
    const deb = readdirSync(dl).find((f) => f.endsWith('.deb'));
    if (!deb) throw new CreateError(`apt-get download ${pkg} left no .deb in ${dl}`);
    progress(`extracting ${deb} (about 1.5 GB)`);
    rmSync(src, { recursive: true, force: true });
    run('sh', ['-c', `dpkg-deb --fsys-tarfile "$1" | tar -xO ./usr/src/${pkg}.tar.xz | tar -xJ -C "$2"`, 'sh', join(dl, deb), base], {
      what: `extracting ${deb}`,
    });
    if (!existsSync(join(src, 'Makefile'))) throw new CreateError(`${deb} did not contain ${pkg}/Makefile`);
    rmSync(dl, { recursive: true, force: true });
    writeFileSync(extracted, `${target.packageVersion}\n`);
  }
  mkdirSync(tree.build, { recursive: true });
  copyFileSync(join(target.headers, '.config'), join(tree.build, '.config'));
  progress('configuring (olddefconfig)');
  makeInTree(tree, ['olddefconfig']);
  if (readFileSync(join(tree.build, '.config'), 'utf8') !== readFileSync(join(target.headers, '.config'), 'utf8')) {
    throw new CreateError(
      `olddefconfig changed Debian's .config for ${target.release} (a different compiler or pahole version?): the rebuilt code would not match the kernel`,
    );
  }
  const goals = prepareGoals(tree);
  progress(`preparing the tree (make ${goals.join(' ')}: generated headers, objtool)`);
  makeInTree(tree, ['-j2', ...goals]);
  writeFileSync(prepared, `${target.packageVersion}\n`);
  return tree;
}

/**
 * make in the prepared tree, with `prepare` taken as made (`-o prepare`): single-target and folder
 * builds remake it first (the top Makefile's `$(build-dir): prepare`, 6.1 to 7.3), and its recipe
 * builds the Rust crates on a kernel configured with Rust (prepareGoals). prepareTree makes what
 * `prepare` needs instead.
 */
function makeInTree(tree: Tree, goals: string[]): string {
  const { args, env } = makeInvocation(tree);
  return runBuild(tree.target, 'make', [...args, '-o', 'prepare', ...goals], { env, what: `make ${goals.join(' ')}` });
}

/**
 * The prerequisites of the top Makefile's `prepare` in this tree and configuration, as make lists
 * them in its database (`make -p`, `prepare` taken as made so that nothing is built): `prepare0`
 * (generated headers, asm-offsets, modpost), `tools/objtool`, `tools/bpf/resolve_btfids`, and
 * whatever else the version and the configuration add (`headers`, `tools/bootconfig` in 7.x).
 * Not its recipe: with CONFIG_RUST (Debian's 7.x) that is `$(MAKE) $(build)=rust`, the Rust crates
 * (86 to 106 s of 7.3's first run on 2 cores), which no C unit reads, and create compiles C units
 * only. The configuration stays the kernel's (CONFIG_RUST=y in autoconf.h). Nor `modules_prepare`'s
 * scripts/module.lds: no module is linked in the tree (the livepatch is linked against the kernel's
 * headers package).
 */
function prepareGoals(tree: Tree): string[] {
  const db = makeInTree(tree, ['-p', 'prepare']);
  // A rule line of the database: `prepare: prepare0 tools/objtool ...` (a target-specific variable
  // would be `prepare: NAME := VALUE`).
  const rule = db.split('\n').find((l) => /^prepare:(\s+[^\s=]+)*\s*$/.test(l));
  if (!rule) throw new CreateError(`make -p prepare in ${tree.build} printed no rule for prepare`);
  return rule.split(/\s+/).slice(1);
}

/** `<dir>/<file>.o` of a C source path relative to the tree. */
export function objectOf(source: string): string {
  return source.replace(/\.c$/, '.o');
}

/**
 * The command kbuild recorded for a translation unit (`<build>/<dir>/.<file>.o.cmd`, written by
 * scripts/Kbuild.include's if_changed and fixdep): compiler, then objtool. Made once with `make`
 * (~7 s of fixed cost per call), replayed afterwards (1-3 s).
 */
export function recordedCommand(tree: Tree, source: string, progress: Progress): string {
  const obj = objectOf(source);
  const cmdFile = join(tree.build, dirname(obj), `.${obj.split('/').pop()}.cmd`);
  if (!existsSync(cmdFile)) {
    progress(`make ${obj} (records its compile command)`);
    makeInTree(tree, [obj]);
    if (!existsSync(cmdFile)) throw new CreateError(`make ${obj} wrote no ${cmdFile}: is ${source} built by this kernel's configuration?`);
  }
  // `cmd_<obj> := ` up to 6.2, `savedcmd_<obj> := ` from 6.3 (scripts/Kbuild.include's if_changed).
  for (const prefix of [`cmd_${obj} := `, `savedcmd_${obj} := `]) {
    const line = readFileSync(cmdFile, 'utf8')
      .split('\n')
      .find((l) => l.startsWith(prefix));
    if (line) return line.slice(prefix.length);
  }
  throw new CreateError(`${cmdFile} has no cmd_${obj} or savedcmd_${obj} line`);
}

/**
 * Compile `file` (the tree's source or a patched copy of it) as the translation unit `source`
 * into `out`, replaying the recorded command with extra flags. A patched copy starts with a
 * `#line 1 "<tree path>"` so that __FILE__ (WARN/BUG file names) is the tree's.
 */
export function compileUnit(tree: Tree, source: string, file: string, out: string, extraFlags: string[], progress: Progress): void {
  const obj = objectOf(source);
  const base = obj.split('/').pop()!;
  const srcPath = join(tree.src, source);
  // A unit that is a whole module by itself runs objtool with --link, as on a linked module, when
  // objtool is delayed to link time (CONFIG_X86_KERNEL_IBT: scripts/Makefile.build's
  // is-single-obj-m, 6.2 to 7.3): that pass belongs to the livepatch's own link, which runs it
  // again, and 7.3's objtool refuses a module whose objects already carry its sections.
  let cmd = `${recordedCommand(tree, source, progress)
    .split(' ; ')
    .filter((part) => !(/^\S*\/objtool\s/.test(part.trim()) && part.includes(' --link ')))
    .join(' ; ')} `;
  const words = cmd.split(' ');
  const cc = words[0];
  cmd = [cc, ...extraFlags, ...words.slice(1)].join(' ');
  const replace = (from: string, to: string) => {
    if (!cmd.includes(from)) throw new CreateError(`the recorded command for ${obj} does not mention ${from}`);
    cmd = cmd.split(from).join(to);
  };
  replace(`-Wp,-MMD,${dirname(obj)}/.${base}.d`, `-Wp,-MMD,${out}.d`);
  replace(` -o ${obj} `, ` -o ${out} `);
  // objtool's argument, when it runs per object: not on kernels with CONFIG_X86_KERNEL_IBT (6.12),
  // where it runs once on vmlinux.o or the linked module (scripts/Makefile.lib, delay-objtool, 5.18+).
  if (cmd.includes(` ${obj} `)) replace(` ${obj} `, ` ${out} `);
  replace(` ${srcPath} `, ` ${file} `);
  rmSync(out, { force: true });
  try {
    runBuild(tree.target, 'sh', ['-c', cmd], { cwd: tree.build, what: `compiling ${source}` });
  } catch (e) {
    rmSync(out, { force: true });
    throw e;
  }
}

export function treeFile(tree: Tree, source: string): string {
  return resolve(tree.src, source);
}

/**
 * Headers any unit of the kernel may include (`<linux/...>`, `<asm/...>`, uapi): which units
 * include one is known only from the dependency files of a whole kernel build, which the
 * prepared tree does not have.
 */
export function isGlobalHeader(path: string): boolean {
  return /^(include|arch\/[^/]+\/include|usr\/include|tools)\//.test(path);
}

/**
 * The source and the files a unit's compile read, from its `.<file>.o.cmd`: scripts/basic/fixdep
 * (Linux 2.6-6.19) rewrites the compiler's -MMD output there as `source_<obj> := <file>` and
 * `deps_<obj> := \` followed by one path per line (and `$(wildcard include/config/...)` lines
 * for the options the unit tests).
 */
export function depsOf(cmdText: string): { source: string | undefined; deps: string[] } {
  const lines = cmdText.split('\n');
  const source = lines
    .find((l) => l.startsWith('source_'))
    ?.split(' := ')[1]
    ?.trim();
  const deps: string[] = [];
  const at = lines.findIndex((l) => l.startsWith('deps_'));
  if (at >= 0) {
    for (let i = at + 1; i < lines.length && lines[i].startsWith(' '); i++) {
      const d = lines[i].trim().replace(/\s*\\$/, '');
      if (d && !d.startsWith('$(')) deps.push(d);
    }
  }
  return { source, deps };
}

function cmdFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => /^\..*\.o\.cmd$/.test(basename(f)))
    .map((f) => join(dir, f));
}

/**
 * The units of this configuration whose compile reads `header` (a header of a source folder, not
 * a global one), relative to the tree: the folder is built once with `make <folder>/` (kept in
 * the prepared tree, stamped) so that each of its units has the compiler's dependency list, and
 * the units listing the header are the answer. A header reached with a relative path from
 * another folder (`#include "../x/y.h"`) is refused: that folder's units are not built here.
 */
export function unitsIncluding(tree: Tree, header: string, progress: Progress): string[] {
  const dir = dirname(header);
  const absHeader = join(tree.src, header);
  const stamp = join(tree.build, dir, '.klp-deps.done');
  if (!existsSync(stamp)) {
    progress(`make ${dir}/ (once: the dependency lists of every unit of ${dir})`);
    makeInTree(tree, ['-j2', `${dir}/`]);
    writeFileSync(stamp, '');
  }
  const name = header.split('/').pop()!;
  const outside = spawnSync(
    'grep',
    ['-rlE', '--include=*.c', '--include=*.h', `^\\s*#\\s*include\\s*"[^"]*/${name.replace(/\./g, '\\.')}"`, tree.src],
    { encoding: 'utf8', maxBuffer: 1 << 26 },
  );
  for (const f of outside.stdout.split('\n').filter(Boolean)) {
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/^\s*#\s*include\s*"([^"]*)"/gm)) {
      if (resolve(dirname(f), m[1]) === absHeader && !f.startsWith(`${join(tree.src, dir)}/`)) {
        throw new CreateError(
          `${header} is included from outside ${dir}/ (${f.slice(tree.src.length + 1)}): which units of other folders read it is not known here; move the change into the .c files that need it`,
        );
      }
    }
  }
  const units: string[] = [];
  for (const f of cmdFiles(join(tree.build, dir))) {
    const { source, deps } = depsOf(readFileSync(f, 'utf8'));
    if (source?.endsWith('.c') && source.startsWith(`${tree.src}/`) && deps.includes(absHeader))
      units.push(source.slice(tree.src.length + 1));
  }
  return units.sort();
}

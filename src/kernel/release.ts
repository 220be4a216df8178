import { existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';

/**
 * The release a kernel build tree builds for (`uname -r` of that kernel). UTS_RELEASE first
 * (include/generated/utsrelease.h, written by the kernel's top Makefile): Debian's headers carry
 * the upstream version (6.1.192) in include/config/kernel.release.
 */
export function kernelRelease(kdir: string): string {
  const uts = join(kdir, 'include', 'generated', 'utsrelease.h');
  const m = existsSync(uts) ? /#define UTS_RELEASE "([^"]+)"/.exec(readFileSync(uts, 'utf8')) : null;
  if (m) return m[1];
  const relFile = join(kdir, 'include', 'config', 'kernel.release');
  return existsSync(relFile) ? readFileSync(relFile, 'utf8').trim() : basename(resolve(kdir, '..'));
}

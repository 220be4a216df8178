/**
 * The prepared tree of the kernel under test (KVER; the first run downloads and prepares it): what
 * `create` compiles against is the kernel's own configuration, although the preparation leaves out
 * `prepare`'s recipe (the Rust crates of Debian's 7.3, configured with CONFIG_RUST).
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { kernelTarget, prepareTree } from '../src/create/tree.js';
import { debianKernel } from './helpers.js';

test("the prepared tree's generated headers are the ones Debian's headers package ships", (t) => {
  const kernel = debianKernel();
  assert.ok(kernel, 'no Debian kernel under test (KVER): run scripts/setup-debian.sh');
  if (!['6.1', '6.12', '7.3'].includes(/^\d+\.\d+/.exec(kernel.kver)?.[0] ?? '')) {
    t.skip(`create does not target ${kernel.kver} (README, "Kernels")`);
    return;
  }
  const target = kernelTarget(kernel.kver);
  const tree = prepareTree(target, () => {});
  const compared: string[] = [];
  for (const dir of ['include/generated', 'arch/x86/include/generated']) {
    for (const f of readdirSync(join(target.headers, dir), { recursive: true, encoding: 'utf8' })) {
      const shipped = join(target.headers, dir, f);
      // Made for init/version-timestamp.o when vmlinux is linked (init/Makefile, 6.1 to 7.3), not by prepare.
      if (!statSync(shipped).isFile() || `${dir}/${f}` === 'include/generated/utsversion.h') continue;
      const ours = join(tree.build, dir, f);
      assert.ok(readFileSync(ours).equals(readFileSync(shipped)), `${ours} differs from ${shipped}`);
      compared.push(`${dir}/${f}`);
    }
  }
  // kconfig's output (autoconf.h: CONFIG_RUST stays on in 7.3) and prepare0's (asm-offsets.h) among them.
  for (const f of ['include/generated/autoconf.h', 'include/generated/asm-offsets.h']) assert.ok(compared.includes(f), f);
});

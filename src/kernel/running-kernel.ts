import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import type { SymbolSources } from './build-map.js';
import { KernelDataError } from './errors.js';

/**
 * The symbol sources of the kernel this machine runs: /proc/kallsyms when it shows addresses (root,
 * or kptr_restrict off), else /boot/System.map-<release> when it is a real one (Debian ships a
 * placeholder), plus the modules in /lib/modules/<release>.
 */
export function runningKernelSources(): SymbolSources {
  const rel = release();
  const modules = existsSync(`/lib/modules/${rel}`) ? [`/lib/modules/${rel}`] : [];
  // The release selects the kallsyms rules of its version (a System.map of 6.4+ needs them).
  if (kallsymsHasAddresses()) return { kallsyms: '/proc/kallsyms', modules, release: rel };
  const systemMap = `/boot/System.map-${rel}`;
  if (existsSync(systemMap) && readFileSync(systemMap, 'latin1').length > 1000) return { systemMap, modules, release: rel };
  throw new KernelDataError(
    `no symbols of the running kernel ${rel}: /proc/kallsyms shows no addresses (run as root) and /boot/System.map-${rel} is missing or a placeholder; give --kallsyms, --system-map or --vmlinux`,
  );
}

/**
 * Whether /proc/kallsyms shows real addresses: without CAP_SYSLOG (kptr_restrict) the kernel prints
 * every address as zero (kernel/kallsyms.c, s_show()), and positions cannot be told from those alone.
 */
function kallsymsHasAddresses(): boolean {
  try {
    const head = readFileSync('/proc/kallsyms', 'latin1').slice(0, 4096).split('\n');
    return head.some((l) => /^[0-9a-f]+ /.test(l) && !/^0+ /.test(l));
  } catch {
    return false;
  }
}

import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import type { SymbolSources } from './build-map.js';
import { KernelDataError } from './errors.js';

/**
 * The symbol sources of the kernel this machine runs: /proc/kallsyms, else /boot/System.map-<release>
 * when it is a real one (Debian ships a placeholder), plus the modules in /lib/modules/<release>.
 * /proc/kallsyms serves any user: a reader without CAP_SYSLOG sees every address as zero, but the
 * same symbols in the same order (kernel/kallsyms.c, s_show(): `value = iter->show_value ?
 * iter->value : NULL`, 6.1 to 7.3), and the order is all a map takes from it.
 */
export function runningKernelSources(): SymbolSources {
  const rel = release();
  const modules = existsSync(`/lib/modules/${rel}`) ? [`/lib/modules/${rel}`] : [];
  // The release selects the kallsyms rules of its version (a System.map of 6.4+ needs them).
  if (existsSync('/proc/kallsyms')) return { kallsyms: '/proc/kallsyms', modules, release: rel };
  const systemMap = `/boot/System.map-${rel}`;
  if (existsSync(systemMap) && readFileSync(systemMap, 'latin1').length > 1000) return { systemMap, modules, release: rel };
  throw new KernelDataError(
    `no symbols of the running kernel ${rel}: no /proc/kallsyms (a kernel without CONFIG_KALLSYMS) and /boot/System.map-${rel} is missing or a placeholder; give --kallsyms, --system-map or --vmlinux`,
  );
}

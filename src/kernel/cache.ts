import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Where klp-convert keeps what outlives a run: symbol maps per release, Debian kernels fetched by
 * scripts/debian-kernel.sh, private roots, prepared kernel trees. $KLP_CACHE, else
 * $XDG_CACHE_HOME/klp-convert, else ~/.cache/klp-convert: the rule scripts/debian-apt.sh follows.
 */
export function cacheRoot(): string {
  return process.env.KLP_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'klp-convert');
}

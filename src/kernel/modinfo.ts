/** Key/value pairs of a module's `.modinfo` section (`key=value` strings separated by NULs). */
export function parseModinfo(bytes: Uint8Array): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  for (const entry of text.split('\0')) {
    const eq = entry.indexOf('=');
    if (eq <= 0) continue;
    const key = entry.slice(0, eq);
    const list = out.get(key);
    if (list) list.push(entry.slice(eq + 1));
    else out.set(key, [entry.slice(eq + 1)]);
  }
  return out;
}

/**
 * The first value of `key` in a module's `.modinfo` section (`key=value` strings separated by
 * NULs), read in place: a whole kernel's 4,000 modules are asked for one key each.
 */
export function modinfoValue(bytes: Uint8Array, key: string): string | undefined {
  const prefix = `${key}=`;
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // The prefix found anywhere (natively), kept only at the start of an entry.
  for (let at = b.indexOf(prefix, 0, 'latin1'); at >= 0; at = b.indexOf(prefix, at + 1, 'latin1')) {
    if (at > 0 && b[at - 1] !== 0) continue;
    const end = b.indexOf(0, at);
    return b.toString('latin1', at + prefix.length, end < 0 ? b.length : end);
  }
  return undefined;
}

/** The name the kernel gives a module: KBUILD_MODNAME, i.e. the file name with '-' made '_'. */
export function moduleNameFromPath(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return base.replace(/\.ko(\.(xz|zst|gz))?$/, '').replace(/-/g, '_');
}

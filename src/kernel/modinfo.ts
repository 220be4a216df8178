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

/** The name the kernel gives a module: KBUILD_MODNAME, i.e. the file name with '-' made '_'. */
export function moduleNameFromPath(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return base.replace(/\.ko(\.(xz|zst|gz))?$/, '').replace(/-/g, '_');
}

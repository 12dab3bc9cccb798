/**
 * System programs by absolute path. PATH cannot be trusted for them: under
 * npm scripts it starts with node_modules/.bin, where for example
 * @vercel/nft (a dependency of the test runner) installs a program called
 * `nft` that is not nftables.
 */
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';

const DIRS = ['/usr/sbin', '/sbin', '/usr/bin', '/bin', '/usr/local/sbin', '/usr/local/bin'];
const cache = new Map<string, string | undefined>();

/** Absolute path of a system program, or undefined if it is not installed. */
export function findSystemBinary(name: string): string | undefined {
  if (cache.has(name)) return cache.get(name);
  let found: string | undefined;
  for (const d of DIRS) {
    const p = join(d, name);
    try {
      accessSync(p, constants.X_OK);
      found = p;
      break;
    } catch {
      // next
    }
  }
  cache.set(name, found);
  return found;
}

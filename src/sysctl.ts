/**
 * The IP forwarding sysctls (--enable-forwarding): turned on at start, and at
 * a clean stop put back exactly as they were, unless someone changed them
 * since. Next to the filter: both are what scrooge changes in the system.
 */
import { ControlError } from './errors.js';
import { readFileSync, writeFileSync } from 'node:fs';
import type { Logger } from '../dataplane/log.js';
import { FORWARDING_SYSCTLS } from './filter.js';

export class ForwardingSysctls {
  /** Sysctls we changed, with their previous values. */
  private readonly changed = new Map<string, string>();

  constructor(private readonly log: Logger) {}

  /** Turns IPv4 and IPv6 forwarding on; throws ERR_PERMISSION naming the sysctl it could not set. */
  enable(): void {
    for (const path of FORWARDING_SYSCTLS) {
      try {
        const prev = readFileSync(path, 'utf8').trim();
        if (prev !== '1') {
          writeFileSync(path, '1');
          this.changed.set(path, prev);
        }
      } catch (e) {
        throw new ControlError('ERR_PERMISSION', `--enable-forwarding: cannot set ${path}: ${(e as Error).message}`);
      }
    }
    this.log.info('IP forwarding enabled', {
      changed: [...this.changed.keys()].join(',') || 'none (already on)',
    });
  }

  /** Puts back exactly what enable() changed, unless someone has changed it since. */
  restore(): void {
    for (const [path, prev] of this.changed) {
      try {
        const now = readFileSync(path, 'utf8').trim();
        if (now !== '1') {
          this.log.info('a sysctl was changed by someone else since start; leaving it', { path, value: now });
          continue;
        }
        writeFileSync(path, prev);
      } catch (e) {
        this.log.warn('cannot restore a sysctl', { path, error: (e as Error).message });
      }
    }
    this.changed.clear();
  }

  /** Whether forwarding is on now. */
  state(): { ipv4: boolean; ipv6: boolean } {
    const read = (p: string) => {
      try {
        return readFileSync(p, 'utf8').trim() === '1';
      } catch {
        return false;
      }
    };
    return { ipv4: read(FORWARDING_SYSCTLS[0]), ipv6: read(FORWARDING_SYSCTLS[1]) };
  }
}

/**
 * Mesh interfaces as the kernel reports them, re-read every poll: existence,
 * ifindex, admin/oper state, MTU, usable IPv6 link-local (not tentative, not
 * DAD-failed) and IPv4 addresses. The watcher turns successive reads into
 * up/down/changed events, so interfaces that appear, go down or change
 * address are picked up without a restart.
 */
import { MTU } from '../base/constants.js';
import { existsSync, readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { parseIPv4 } from '../dataplane/sockaddr.js';

const IFF_UP = 0x1;
const IFA_F_DADFAILED = 0x08;
const IFA_F_TENTATIVE = 0x40;

export interface IfaceInfo {
  name: string;
  ifindex: number;
  mtu: number;
  /** Administratively up and the link not down. */
  up: boolean;
  /** Usable IPv6 link-local address (no DAD in progress). */
  linkLocal: Uint8Array | undefined;
  ipv4: Uint8Array | undefined;
}

function readSys(name: string, file: string): string | undefined {
  try {
    return readFileSync(`/sys/class/net/${name}/${file}`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** IPv6 link-local addresses from /proc/net/if_inet6 that are usable now, by interface name. */
function usableLinkLocals(): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  let text = '';
  try {
    text = readFileSync('/proc/net/if_inet6', 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 6) continue;
    const [hex, , , scope, flags, name] = f as [string, string, string, string, string, string];
    if (scope !== '20') continue; // link scope
    const fl = Number.parseInt(flags, 16);
    if (fl & (IFA_F_TENTATIVE | IFA_F_DADFAILED)) continue;
    if (!out.has(name)) out.set(name, new Uint8Array(Buffer.from(hex, 'hex')));
  }
  return out;
}

export function readInterfaces(names: readonly string[]): Map<string, IfaceInfo> {
  const lls = usableLinkLocals();
  const os = networkInterfaces();
  const out = new Map<string, IfaceInfo>();
  for (const name of names) {
    if (!existsSync(`/sys/class/net/${name}`)) continue;
    const ifindex = Number(readSys(name, 'ifindex'));
    const mtu = Number(readSys(name, 'mtu'));
    const flags = Number.parseInt(readSys(name, 'flags') ?? '0', 16);
    // carrier follows the link at once; operstate lags by up to a second (linkwatch)
    const carrier = readSys(name, 'carrier');
    const v4 = os[name]?.find((a) => a.family === 'IPv4');
    out.set(name, {
      name,
      ifindex: Number.isFinite(ifindex) ? ifindex : 0,
      mtu: Number.isFinite(mtu) ? mtu : MTU.underlayDefault,
      up: (flags & IFF_UP) !== 0 && carrier === '1',
      linkLocal: lls.get(name),
      ipv4: v4 ? parseIPv4(v4.address) : undefined,
    });
  }
  return out;
}

export type IfaceEvent =
  | { kind: 'up'; info: IfaceInfo }
  | { kind: 'down'; name: string; reason: string }
  | { kind: 'changed'; info: IfaceInfo; what: string };

/** Ready for the control protocol: up, with a usable link-local (or IPv4 for --peer links). */
export function isReady(i: IfaceInfo): boolean {
  return i.up && i.ifindex > 0 && (i.linkLocal !== undefined || i.ipv4 !== undefined);
}

function same(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Pure diff of two reads. */
export function diffInterfaces(
  prev: Map<string, IfaceInfo>,
  next: Map<string, IfaceInfo>,
  names: readonly string[],
): IfaceEvent[] {
  const events: IfaceEvent[] = [];
  for (const name of names) {
    const a = prev.get(name);
    const b = next.get(name);
    const wasReady = a !== undefined && isReady(a);
    const isNowReady = b !== undefined && isReady(b);
    if (!wasReady && isNowReady) events.push({ kind: 'up', info: b });
    else if (wasReady && !isNowReady) {
      events.push({ kind: 'down', name, reason: b === undefined ? 'removed' : !b.up ? 'down' : 'no usable address' });
    } else if (wasReady && isNowReady) {
      if (a.ifindex !== b.ifindex) {
        events.push({ kind: 'down', name, reason: 're-created' }, { kind: 'up', info: b });
      } else {
        const what: string[] = [];
        if (a.mtu !== b.mtu) what.push(`mtu ${a.mtu}→${b.mtu}`);
        if (!same(a.linkLocal, b.linkLocal)) what.push('link-local address');
        if (!same(a.ipv4, b.ipv4)) what.push('IPv4 address');
        if (what.length > 0) events.push({ kind: 'changed', info: b, what: what.join(', ') });
      }
    }
  }
  return events;
}

export class InterfaceWatcher {
  private current = new Map<string, IfaceInfo>();
  constructor(private readonly names: readonly string[]) {}

  poll(): IfaceEvent[] {
    const next = readInterfaces(this.names);
    const events = diffInterfaces(this.current, next, this.names);
    this.current = next;
    return events;
  }

  get(name: string): IfaceInfo | undefined {
    return this.current.get(name);
  }

  byIndex(ifindex: number): IfaceInfo | undefined {
    for (const i of this.current.values()) if (i.ifindex === ifindex && isReady(i)) return i;
    return undefined;
  }

  all(): IfaceInfo[] {
    return [...this.current.values()];
  }
}

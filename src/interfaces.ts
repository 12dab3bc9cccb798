/**
 * Mesh interfaces as the kernel reports them: existence, ifindex, admin/oper
 * state, MTU, usable IPv6 link-local (not tentative, not DAD-failed) and IPv4
 * addresses. The watcher turns successive reads into up/down/changed events,
 * so interfaces that appear, go down or change address are picked up without
 * a restart. MeshInterfaces re-reads them only when the kernel says one of
 * them changed (rtnetlink), and the node's own addresses only when an address
 * changed: when nothing happens, nothing runs. Without rtnetlink it polls.
 */
import { MTU } from '../base/constants.js';
import { existsSync, readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { LIMITS } from '../base/constants.js';
import type { Logger } from '../dataplane/log.js';
import { type LinkChanges, LinkMonitor } from '../dataplane/netlink.js';
import { parseIPv4, parseIPv6 } from '../dataplane/sockaddr.js';

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

/** Every address of this node (all interfaces). */
export function localAddresses(): Uint8Array[] {
  const addrs: Uint8Array[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      const bytes = a.family === 'IPv4' ? parseIPv4(a.address) : parseIPv6(a.address.split('%')[0] ?? '');
      if (bytes) addrs.push(bytes);
    }
  }
  return addrs;
}

export interface MeshInterfaceEvents {
  /** Mesh interfaces came up, went down or changed (after a re-read). */
  changed(events: IfaceEvent[]): void;
  /** The node's addresses, at start and whenever an address changed. */
  localAddresses(addrs: Uint8Array[]): void;
}

/**
 * The mesh interfaces, re-read when rtnetlink says one of them (or an
 * address) changed; bursts of notifications are coalesced into one re-read
 * after LIMITS.interfaceSettleMs. If the subscription cannot be made, poll()
 * (called from the daemon's tick) re-reads every LIMITS.interfacePollMs.
 */
export class MeshInterfaces {
  readonly watcher: InterfaceWatcher;
  private readonly names: ReadonlySet<string>;
  private monitor: LinkMonitor | undefined;
  private timer: NodeJS.Timeout | undefined;
  private dirtyMesh = false;
  private dirtyAddresses = false;
  private lastPoll = Number.NEGATIVE_INFINITY;
  /** Re-reads of the mesh interfaces and of the node's addresses (for status). */
  readonly counters = { meshReads: 0, addressReads: 0 };

  constructor(
    names: readonly string[],
    private readonly events: MeshInterfaceEvents,
    private readonly log: Logger,
  ) {
    this.names = new Set(names);
    this.watcher = new InterfaceWatcher(names);
  }

  /** Reads everything once, reports it, and subscribes to changes. */
  start(): void {
    try {
      this.monitor = new LinkMonitor((c) => this.notified(c), this.log);
    } catch (e) {
      this.log.warn('no rtnetlink notifications; polling the interfaces', {
        every: `${LIMITS.interfacePollMs}ms`,
        error: (e as Error).message,
      });
    }
    this.dirtyMesh = this.dirtyAddresses = true;
    this.reread();
  }

  /** rtnetlink messages dropped because another process, not the kernel, sent them. */
  get foreignNotifications(): number {
    return this.monitor?.foreign ?? 0;
  }

  /** Whether interfaces are polled (no rtnetlink). */
  get polling(): boolean {
    return this.monitor === undefined;
  }

  /** From the daemon's tick: re-reads only when polling (no rtnetlink). */
  poll(nowMs: number): void {
    if (this.monitor !== undefined || nowMs - this.lastPoll < LIMITS.interfacePollMs) return;
    this.lastPoll = nowMs;
    this.dirtyMesh = this.dirtyAddresses = true;
    this.reread();
  }

  private notified(c: LinkChanges): void {
    if (c.lost) this.dirtyMesh = this.dirtyAddresses = true;
    if (c.addresses) this.dirtyAddresses = true;
    if (!this.dirtyMesh) {
      for (const name of c.names) if (this.names.has(name)) this.dirtyMesh = true;
      for (const i of this.watcher.all()) if (c.ifindexes.has(i.ifindex)) this.dirtyMesh = true;
    }
    if ((this.dirtyMesh || this.dirtyAddresses) && this.timer === undefined) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.reread();
      }, LIMITS.interfaceSettleMs);
    }
  }

  private reread(): void {
    if (this.dirtyAddresses) {
      this.dirtyAddresses = false;
      this.counters.addressReads++;
      this.events.localAddresses(localAddresses());
    }
    if (this.dirtyMesh) {
      this.dirtyMesh = false;
      this.counters.meshReads++;
      const events = this.watcher.poll();
      if (events.length > 0) this.events.changed(events);
    }
  }

  close(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.monitor?.close();
    this.monitor = undefined;
  }
}

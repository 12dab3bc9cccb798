/**
 * What the admin API and the metrics show, built from plain records: the
 * tunnel registry's entry type, one neighbour's view, and traffic control's.
 * Pure (no I/O, no clock): the daemon hands in what it holds.
 */
import { linkLocalAddress } from '../dataplane/names.js';
import { formatSockaddr } from '../dataplane/sockaddr.js';
import type { NeighborCounters } from '../dataplane/tc/scheduler.js';
import type { TcNeighborStats, TrafficControl } from '../dataplane/tc/stage.js';
import type { Tunnel } from '../dataplane/tunnel.js';
import { SCHEDULERS } from './config.js';
import type { Link, LinkState } from './control/core.js';
import { formatRate } from './values.js';

/** A link's tunnel, as the daemon's registry keeps it. */
export interface LinkTunnel {
  tunnel: Tunnel;
  name: string;
  iface: string;
  /** Wall-clock ms of the last completed handshake. */
  lastHandshakeWall: number | null;
  /** Neighbour's public key (base64). */
  pk: string;
  /** Outer family (IP/UDP header size for wire accounting). */
  family: 4 | 6;
}

export interface NeighborInfo {
  publicKey: string;
  interface: string;
  linkLocal: string;
  tun: string | null;
  state: LinkState;
  /** Why the tunnel's last setup failed (a name held by another device, a permission), if it did. */
  lastError: string | null;
  endpoint: string | null;
  lastHandshake: string | null;
  rx: { bytes: number; packets: number; drops: number };
  tx: { bytes: number; packets: number; drops: number };
  drops: Record<string, number>;
  weight: number;
  /** Cap, e.g. "20mbit", or null. */
  rate: string | null;
  /** Traffic-control queues (packets/bytes waiting), per direction. */
  queue: { ingress: { packets: number; bytes: number }; egress: { packets: number; bytes: number } };
  /** What traffic control let through per direction (inner bytes/packets), and what it dropped. */
  scheduled: { ingress: NeighborCounters; egress: NeighborCounters } | null;
}

/**
 * One neighbour as the admin API and metrics show it, from its link, its
 * tunnel (if it has one), its traffic-control counters and its settings.
 */
export function neighborView(
  l: Link,
  lt: LinkTunnel | undefined,
  tcs: TcNeighborStats | undefined,
  settings: { weight: number; capBps: number | undefined },
): NeighborInfo {
  const c = lt?.tunnel.core.counters;
  const rxDrops = c
    ? c.dropMalformed +
      c.dropBadTag +
      c.dropReplay +
      c.dropStaleSession +
      c.dropDeviceError +
      (tcs?.ingress.dropQueueFull ?? 0) +
      (tcs?.ingress.dropCodel ?? 0)
    : 0;
  const txDrops = c
    ? c.dropNoSession + c.dropSendError + (tcs?.egress.dropQueueFull ?? 0) + (tcs?.egress.dropCodel ?? 0)
    : 0;
  const endpoint = lt?.tunnel.peer ?? l.endpoint;
  return {
    publicKey: l.pkB64,
    interface: l.iface,
    linkLocal: linkLocalAddress(l.pk),
    tun: lt?.name ?? null,
    state: l.state,
    lastError: l.lastError ?? null,
    endpoint: endpoint ? formatSockaddr(endpoint, l.iface) : null,
    lastHandshake: lt?.lastHandshakeWall ? new Date(lt.lastHandshakeWall).toISOString() : null,
    rx: { bytes: c?.rxBytes ?? 0, packets: c?.rxPackets ?? 0, drops: rxDrops },
    tx: { bytes: c?.txBytes ?? 0, packets: c?.txPackets ?? 0, drops: txDrops },
    drops: c
      ? {
          malformed: c.dropMalformed,
          badTag: c.dropBadTag,
          replay: c.dropReplay,
          staleSession: c.dropStaleSession,
          noSession: c.dropNoSession,
          queueFull: c.dropQueueFull,
          deviceError: c.dropDeviceError,
          sendError: c.dropSendError,
          codelIngress: tcs?.ingress.dropCodel ?? 0,
          codelEgress: tcs?.egress.dropCodel ?? 0,
        }
      : {},
    weight: settings.weight,
    rate: settings.capBps === undefined ? null : formatRate(settings.capBps),
    queue: tcs?.queue ?? { ingress: { packets: 0, bytes: 0 }, egress: { packets: 0, bytes: 0 } },
    scheduled: tcs ? { ingress: tcs.ingress, egress: tcs.egress } : null,
  };
}

/** Traffic control's settings and its own (non-neighbour) counters, for status and `scrooge set`. */
export function tcView(tc: TrafficControl, defaultWeight: number): Record<string, unknown> {
  const t = tc.settings;
  const dir = (d: 'ingress' | 'egress') => {
    const sc = tc[d].sched;
    return { queuedPackets: sc.queuedPackets, own: { ...sc.ownCounters } };
  };
  return {
    enabled: tc.enabled,
    capacity: t.capacityBps === undefined ? null : formatRate(t.capacityBps),
    capacityBps: t.capacityBps ?? null,
    share: t.share,
    scheduler: t.algorithm,
    schedulers: SCHEDULERS,
    defaultWeight,
    ingress: dir('ingress'),
    egress: dir('egress'),
  };
}

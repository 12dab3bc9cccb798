/**
 * Per-neighbour accounting for billing, by public key. A tunnel's counters
 * are folded in as deltas (before a read, and a last time when the tunnel
 * goes away), so nothing is counted twice and nothing is lost when a
 * tunnel closes. Wire bytes count every datagram (data and keepalives) with
 * its outer IP/UDP header.
 *
 * Bounded: at most `maxKeys` keys are kept apart (LIMITS.accountingMaxKeys);
 * past that the least recently active departed key is merged into one
 * `evicted` total until the next read with reset.
 */
import { WIRE } from '../base/constants.js';
import type { Tunnel } from '../dataplane/tunnel.js';

/** What the book needs of a live tunnel. */
export interface AccountedTunnel {
  tunnel: Pick<Tunnel, 'core'>;
  /** Neighbour's public key (base64). */
  pk: string;
  /** Outer family (IP/UDP header size for wire accounting). */
  family: 4 | 6;
}

export interface Traffic {
  bytes: number;
  packets: number;
  wireBytes: number;
  wirePackets: number;
}

/**
 * Per-neighbour accounting for billing, by public key. Tunnel counters are
 * folded in as deltas (before a tunnel closes, before a read),
 * so nothing is counted twice and nothing is lost when a tunnel goes away.
 * Wire bytes count every datagram (data and keepalives) with its outer
 * IP/UDP header.
 */
export class AccountingBook {
  /** Totals by key, least recently folded first (Map order). */
  private readonly book = new Map<string, { rx: Traffic; tx: Traffic }>();
  /** The counters of each live tunnel at its last fold (and whose key it is). */
  private readonly seen = new Map<AccountedTunnel['tunnel'], { pk: string; rx: Traffic; tx: Traffic }>();
  /** Totals of departed keys merged when the book was full (reported as one entry). */
  private evicted: { rx: Traffic; tx: Traffic; keys: number } | undefined;
  since = new Date();

  constructor(private readonly maxKeys: number) {}

  /** Tunnels whose last counters are remembered (each live tunnel, none that went away). */
  get liveTunnels(): number {
    return this.seen.size;
  }

  /** Folds a tunnel's counters in; `last` when the tunnel is going away (it is forgotten). */
  fold(lt: AccountedTunnel, last = false): void {
    const c = lt.tunnel.core.counters;
    const hdr = lt.family === 6 ? WIRE.ipv6UdpHeaderBytes : WIRE.ipv4UdpHeaderBytes;
    const rxDatagrams = c.rxPackets + c.rxKeepalives;
    const txDatagrams = c.txPackets + c.txKeepalives;
    const now = {
      rx: {
        bytes: c.rxBytes,
        packets: c.rxPackets,
        wireBytes: c.rxWireBytes + rxDatagrams * hdr,
        wirePackets: rxDatagrams,
      },
      tx: {
        bytes: c.txBytes,
        packets: c.txPackets,
        wireBytes: c.txWireBytes + txDatagrams * hdr,
        wirePackets: txDatagrams,
      },
    };
    const before = this.seen.get(lt.tunnel) ?? {
      rx: { bytes: 0, packets: 0, wireBytes: 0, wirePackets: 0 },
      tx: { bytes: 0, packets: 0, wireBytes: 0, wirePackets: 0 },
    };
    let e = this.book.get(lt.pk);
    if (e)
      this.book.delete(lt.pk); // re-inserted below: Map order is recency
    else {
      e = {
        rx: { bytes: 0, packets: 0, wireBytes: 0, wirePackets: 0 },
        tx: { bytes: 0, packets: 0, wireBytes: 0, wirePackets: 0 },
      };
      this.makeRoom(lt.pk);
    }
    this.book.set(lt.pk, e);
    for (const dir of ['rx', 'tx'] as const) {
      for (const k of ['bytes', 'packets', 'wireBytes', 'wirePackets'] as const)
        e[dir][k] += now[dir][k] - before[dir][k];
    }
    if (last) this.seen.delete(lt.tunnel);
    else this.seen.set(lt.tunnel, { pk: lt.pk, ...now });
  }

  /**
   * At maxKeys, the least recently active key whose tunnels are all gone is
   * merged into the `evicted` total (kept, and reported, until the next read
   * with reset): no byte is lost, only its attribution.
   */
  private makeRoom(incoming: string): void {
    if (this.book.size < this.maxKeys) return;
    const live = new Set([...this.seen.values()].map((v) => v.pk));
    for (const [pk, e] of this.book) {
      if (live.has(pk) || pk === incoming) continue;
      this.book.delete(pk);
      const ev = (this.evicted ??= {
        rx: { bytes: 0, packets: 0, wireBytes: 0, wirePackets: 0 },
        tx: { bytes: 0, packets: 0, wireBytes: 0, wirePackets: 0 },
        keys: 0,
      });
      for (const dir of ['rx', 'tx'] as const)
        for (const k of ['bytes', 'packets', 'wireBytes', 'wirePackets'] as const) ev[dir][k] += e[dir][k];
      ev.keys++;
      return;
    }
  }

  /** A consistent snapshot; with reset the book starts again from zero at the same instant. */
  read(reset: boolean): {
    since: string;
    until: string;
    neighbors: Array<{ publicKey: string; rx: Traffic; tx: Traffic }>;
    evicted: { keys: number; rx: Traffic; tx: Traffic } | null;
  } {
    const until = new Date();
    const out = {
      since: this.since.toISOString(),
      until: until.toISOString(),
      neighbors: [...this.book.entries()].map(([publicKey, e]) => ({ publicKey, rx: { ...e.rx }, tx: { ...e.tx } })),
      /** Departed keys merged when the book held LIMITS.accountingMaxKeys keys (null: none). */
      evicted: this.evicted
        ? { keys: this.evicted.keys, rx: { ...this.evicted.rx }, tx: { ...this.evicted.tx } }
        : null,
    };
    if (reset) {
      this.book.clear();
      this.evicted = undefined;
      this.since = until;
    }
    return out;
  }
}

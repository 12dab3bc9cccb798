/**
 * Simulates several control cores on shared links with a fake clock and an
 * in-memory network (loss, duplicates, reordering). The control cores, the
 * wire format and the tunnel cores (sessions, probes, acks, timers: the real
 * TunnelCore, sealing and opening real packets) are the real ones; only
 * sockets, devices and the shell are replaced.
 */
import { identityFromSeed, type Identity } from '../../crypto/index.js';
import { isScroogeError } from '../../base/errors.js';
import { readU32LE, TUNNEL_OVERHEAD } from '../../dataplane/packet.js';
import { type TickResult, TunnelCore } from '../../dataplane/session.js';
import type { SockAddr } from '../../dataplane/sockaddr.js';
import { type Action, ALL_ONES_V6_MULTICAST, ControlCore, type TunnelHealth } from '../../src/control/core.js';
import { type ControlFields, encodeControlMessage } from '../../src/control/messages.js';
import { SeqSource } from '../../src/control/seq.js';
import { defaultTestBackend, prng } from './backends.js';

const backend = defaultTestBackend();

/** A link's tunnel in the simulation: the real TunnelCore, and where its packets go. */
export class SimTunnel {
  readonly core = new TunnelCore(backend);
  endpoint: SockAddr | undefined;
  /** The initiator's probes go to the confirm's endpoint. */
  probeTo: SockAddr | undefined;
  lastTick: TickResult | undefined;
  constructor(readonly port: number) {}
  /** Session id of the current (proven) session. */
  get current(): number | undefined {
    return this.core.current?.id;
  }
  get pending(): number | undefined {
    return this.core.pending?.id;
  }
}

export interface Datagram {
  kind: 'control' | 'data';
  from: SimNode;
  iface: string;
  to: SockAddr;
  bytes?: Uint8Array;
  at: number;
}

export class SimNode {
  readonly identity: Identity;
  core: ControlCore;
  seq: SeqSource;
  readonly tunnels = new Map<string, SimTunnel>();
  readonly events: Action[] = [];
  readonly stateLog: Array<{ link: string; to: string; at: number }> = [];
  private seqStore: { v: bigint | undefined };
  private nextPort = 40000;
  alive = true;

  constructor(
    readonly sim: ControlSim,
    readonly name: string,
    seed: number,
    /** interface name → this node's link-local address on it */
    readonly addrs: Record<string, SockAddr>,
  ) {
    this.identity = identityFromSeed(backend, new Uint8Array(32).fill(seed));
    this.seqStore = { v: undefined };
    this.seq = this.makeSeq();
    this.core = this.makeCore();
  }

  private makeSeq(): SeqSource {
    const st = this.seqStore;
    return new SeqSource({ load: () => st.v, save: (c) => (st.v = c) });
  }

  private makeCore(): ControlCore {
    return new ControlCore({
      backend,
      publicKey: this.identity.publicKey,
      random: (n) => this.sim.rnd.bytes(n),
      helloIntervalMs: 5000,
      maxNeighbors: this.sim.maxNeighbors,
      neighborTimeoutMs: 60_000,
      port: 8481,
    });
  }

  /** kill -9 and start again: same key, same persisted seq floor, empty memory. */
  restart(now: number): void {
    this.tunnels.clear();
    this.seq = this.makeSeq();
    this.core = this.makeCore();
    this.alive = true;
    for (const iface of Object.keys(this.addrs)) this.run(this.core.interfaceUp(iface, now), now);
  }

  start(now: number): void {
    for (const iface of Object.keys(this.addrs)) this.run(this.core.interfaceUp(iface, now), now);
  }

  health = (link: string): TunnelHealth | undefined => {
    const r = this.tunnels.get(link)?.lastTick;
    if (!r) return undefined;
    return { hasCurrent: !r.noSession, dead: r.dead, unprovenMs: r.unprovenMs, rekeyDue: r.rekeyDue };
  };

  /** The data plane's tick: keepalives and probes, and the health the control core reads. */
  tickTunnels(now: number): void {
    for (const [link, t] of this.tunnels) {
      const r = t.core.tick(now);
      t.lastTick = r;
      if (r.keepalive) this.sendData(link, now, 0);
      if (r.probe) this.sendProbe(link, now);
    }
  }

  run(actions: Action[], now: number): void {
    for (const a of actions) {
      this.events.push(a);
      switch (a.kind) {
        case 'send': {
          const m = a.message;
          const seq = this.seq.next(BigInt(now) * 1000n);
          let fields: ControlFields;
          if (m.type === 'scrooge_tunnel' || m.type === 'scrooge_tunnel_confirm') {
            const t = this.tunnels.get(m.link);
            if (!t) throw new Error(`${this.name}: send for ${m.link} without a tunnel`);
            fields = {
              type: m.type,
              dstPK: m.dstPK,
              seq,
              tunnelPK: m.tunnelPK,
              endpoint: { host: 'fe80::1', port: t.port, family: 6 },
            };
          } else fields = { type: m.type, dstPK: m.dstPK, seq };
          const bytes = new TextEncoder().encode(encodeControlMessage(fields, this.identity));
          this.sim.send({ kind: 'control', from: this, iface: a.iface, to: a.to, bytes, at: now });
          break;
        }
        case 'ensureTunnel':
          if (!this.tunnels.has(a.link)) this.tunnels.set(a.link, new SimTunnel(this.nextPort++));
          break;
        case 'install': {
          const t = this.tunnels.get(a.link);
          if (!t) throw new Error(`${this.name}: install without tunnel`);
          if (!t.core.install(a.keys, now, a.role)) break;
          if (a.role === 'initiator') {
            t.probeTo = a.endpoint;
            t.endpoint ??= a.endpoint;
            this.sendProbe(a.link, now); // the data plane probes at once
          } else if (t.endpoint === undefined || now - t.core.lastAuthRecvMs >= 30_000) t.endpoint = a.endpoint;
          break;
        }
        case 'closeTunnel':
          this.tunnels.delete(a.link);
          break;
        case 'state':
          this.stateLog.push({ link: a.link, to: a.to, at: now });
          break;
        case 'log':
          break;
      }
    }
  }

  /** A packet on the current session (payload bytes; 0 = keepalive). */
  sendData(link: string, now: number, payload = 1): void {
    const t = this.tunnels.get(link);
    if (!t || !t.endpoint) return;
    const buf = new Uint8Array(TUNNEL_OVERHEAD + payload);
    const n = t.core.seal(buf, 0, payload, now);
    if (n === 0) return;
    this.sim.send({
      kind: 'data',
      from: this,
      iface: link.split('|')[1] as string,
      to: t.endpoint,
      bytes: buf,
      at: now,
    });
  }

  private sendProbe(link: string, now: number): void {
    const t = this.tunnels.get(link);
    const to = t?.probeTo ?? t?.endpoint;
    if (!t || !to) return;
    const buf = new Uint8Array(TUNNEL_OVERHEAD);
    if (t.core.sealProbe(buf, 0, now) === 0) return;
    this.sim.send({ kind: 'data', from: this, iface: link.split('|')[1] as string, to, bytes: buf, at: now });
  }

  /** A data packet arrived: demultiplexed by session id, as the shared socket does. */
  receiveData(d: Datagram, now: number): void {
    const bytes = d.bytes;
    if (!bytes || bytes.length < TUNNEL_OVERHEAD) return;
    const id = readU32LE(bytes, 4);
    for (const [link, t] of this.tunnels) {
      if (!t.core.sessionIds().includes(id)) continue;
      const copy = Uint8Array.from(bytes); // opened in place; a duplicate must see the ciphertext
      t.core.open(copy, 0, copy.length, now);
      if (t.core.ackDue) {
        t.core.ackDue = false;
        this.sendData(link, now, 0);
      }
      return;
    }
  }

  linkTo(other: SimNode, iface: string): string {
    return `${other.identity.publicKeyBase64}|${iface}`;
  }

  stateOf(other: SimNode, iface: string): string | undefined {
    return this.core.links.get(this.linkTo(other, iface))?.state;
  }
}

export class ControlSim {
  now = 0;
  readonly nodes: SimNode[] = [];
  readonly rnd;
  lossRate = 0;
  dupRate = 0;
  jitterMs = 0;
  delayMs = 1;
  maxNeighbors = 256;
  /** Links that are cut (interface name → cut). */
  readonly cut = new Set<string>();
  private queue: Datagram[] = [];
  delivered = 0;

  constructor(seed = 1) {
    this.rnd = prng(seed);
  }

  private u(): number {
    return this.rnd.u32() / 2 ** 32;
  }

  add(name: string, seed: number, addrs: Record<string, SockAddr>): SimNode {
    const n = new SimNode(this, name, seed, addrs);
    this.nodes.push(n);
    return n;
  }

  /** Drops the datagrams it returns true for (e.g. one direction of the data plane). */
  drop: ((d: Datagram) => boolean) | undefined;

  send(d: Datagram): void {
    if (this.cut.has(d.iface)) return;
    if (this.drop?.(d)) return;
    if (this.u() < this.lossRate) return;
    const copies = this.u() < this.dupRate ? 2 : 1;
    for (let i = 0; i < copies; i++) this.queue.push({ ...d, at: d.at + this.delayMs + this.u() * this.jitterMs });
  }

  /** Raw injection (for replay tests). */
  inject(d: Datagram): void {
    this.queue.push(d);
  }

  private deliver(d: Datagram): void {
    const multicast = d.to.family === 6 && d.to.address.every((x, i) => x === ALL_ONES_V6_MULTICAST[i]);
    for (const n of this.nodes) {
      if (n === d.from || !n.alive) continue;
      const mine = n.addrs[d.iface];
      if (!mine) continue;
      const match = multicast || (mine.address.every((x, i) => x === d.to.address[i]) && d.to.family === mine.family);
      if (!match) continue;
      this.delivered++;
      if (d.kind === 'data') {
        n.receiveData(d, this.now);
        continue;
      }
      const src = d.from.addrs[d.iface] as SockAddr;
      try {
        n.run(
          n.core.onDatagram(d.bytes as Uint8Array, { iface: d.iface, addr: { ...src, port: 8481 } }, this.now),
          this.now,
        );
      } catch (e) {
        if (!isScroogeError(e)) throw e;
      }
    }
  }

  /** Advances the clock in steps, delivering datagrams and ticking every 250 ms. */
  run(ms: number, step = 10, onStep?: (now: number) => void): void {
    const end = this.now + ms;
    while (this.now < end) {
      this.now += step;
      const due = this.queue.filter((d) => d.at <= this.now).sort((a, b) => a.at - b.at);
      this.queue = this.queue.filter((d) => d.at > this.now);
      for (const d of due) this.deliver(d);
      if (this.now % 250 === 0) {
        for (const n of this.nodes) {
          if (!n.alive) continue;
          n.tickTunnels(this.now);
          n.run(n.core.tick(this.now, n.health), this.now);
        }
      }
      if (this.now % 1000 === 0) {
        // a trickle of data both ways keeps tunnels alive (like real traffic or keepalives)
        for (const n of this.nodes) if (n.alive) for (const link of n.tunnels.keys()) n.sendData(link, this.now);
      }
      onStep?.(this.now);
    }
  }

  /** Runs until `cond` holds (or throws after `maxMs`). Returns the elapsed ms. */
  until(cond: () => boolean, maxMs: number): number {
    const start = this.now;
    while (!cond()) {
      if (this.now - start > maxMs) throw new Error(`condition not reached within ${maxMs} ms of simulated time`);
      this.run(10);
    }
    return this.now - start;
  }
}

export function ll(n: number): SockAddr {
  const a = new Uint8Array(16);
  a[0] = 0xfe;
  a[1] = 0x80;
  a[15] = n;
  return { family: 6, address: a, port: 8481, scopeId: 0 };
}

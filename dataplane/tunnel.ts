/**
 * The packet path's I/O shell. Pipeline, per tunnel:
 *
 *   send:    TUN fd ──read batch──▶ tunSlab ──[egress stage]──▶ seal in place
 *            ──▶ udpSendBatch (UDP GSO runs, sendmmsg) ──▶ peer
 *   receive: UDP fd ──recvmmsg (GRO split)──▶ udpSlab ──▶ open in place
 *            ──[ingress stage]──▶ tunWriteBatch ──▶ TUN fd
 *
 * Every step of a batch runs synchronously inside the one callback the addon
 * makes per wake-up, so all tunnels share one set of slabs (no per-tunnel
 * packet memory, no copies, no allocation per packet). Latency: a batch is
 * sent as soon as the read loop drains; nothing waits for a timer.
 *
 * The stages are where traffic control sits (src/tc); null = pass-through.
 * Nothing here throws on packet input: drops are counted in the tunnel's
 * TunnelCounters and summarised in rate-limited log lines.
 */
import { performance } from 'node:perf_hooks';
import { type CryptoBackend, ScroogeError } from '../crypto/index.js';
import { type InterfaceAddress, openTunDevice, type TunDevice } from './link.js';
import { type Logger, nullLogger, RateLimitedLog } from './log.js';
import { KIND_TUN, KIND_UDP, type NativePort, native, nativeError, PortStat } from './native.js';
import { HEADER_BYTES, TAG_BYTES, TUNNEL_OVERHEAD } from './packet.js';
import { DEAD_AFTER_MS, type SessionKeys, type TickResult, TunnelCore } from './session.js';
import { decodeSockaddr, encodeSockaddr, formatSockaddr, type SockAddr, toMapped6 } from './sockaddr.js';

const EIO = 5;
const EINVAL = 22;
const EOPNOTSUPP = 95;

/** UDP GRO delivers up to 64 KiB per message. */
const GRO_SLOT = 65536;
const META = 4;

/**
 * A traffic-control stage for one direction. `offer` sees each packet (its
 * payload at buf[off..off+len), with HEADER_BYTES of headroom and TAG_BYTES of
 * tailroom usable around it) and returns true to let it go now, in place; or
 * false when it took the packet (copied it into a queue, to be released later
 * through Tunnel.transmit/deliver) or dropped it (and counted the drop).
 */
export interface DirectionStage {
  offer(tunnel: Tunnel, buf: Uint8Array, off: number, len: number, nowMs: number): boolean;
  /** Called once after each batch the tunnel offered (lets the stage flush work). */
  endBatch?(nowMs: number): void;
}

export interface DataplaneOptions {
  backend: CryptoBackend;
  log?: Logger;
  /** Send with UDP GSO when the kernel supports it (default true). */
  gso?: boolean;
  /** Receive with UDP GRO when the kernel supports it (default true). */
  gro?: boolean;
  /** Largest TUN MTU any tunnel may use; sizes the shared slabs (default 9000). */
  maxMtu?: number;
  /** Packets per TUN read batch (default 64). */
  tunBatch?: number;
  /** Messages per recvmmsg (default 16 with GRO, 64 without). */
  udpBatch?: number;
  /** SO_RCVBUF / SO_SNDBUF of tunnel sockets (default 4 MiB). */
  socketBuffer?: number;
  /** Monotonic clock in ms (default performance.now). */
  now?: () => number;
  /** Read the TUN right after writing to it, in the same wake-up (default true). */
  drainAfterWrite?: boolean;
  /**
   * Latency keeper: while data flowed in the last `holdMs`, run the seal/open
   * path on a scratch packet every `intervalMs`, so the next packet after a
   * pause finds caches and JIT code warm. intervalMs 0 turns it off.
   * Default { intervalMs: 1, holdMs: 1000 }.
   */
  warm?: { intervalMs: number; holdMs: number };
  /** JIT-compile the packet path at start (default true). */
  prewarm?: boolean;
}

export interface TunnelOptions {
  /** TUN device name. */
  name: string;
  mtu: number;
  /** Addresses put on the TUN device (link-local and node addresses). */
  addresses: InterfaceAddress[];
  /** UDP port to bind; 0 (default) picks a free one. */
  port?: number;
  peer?: SockAddr;
  /** Called once when the TUN device or the socket fails for good. */
  onFailure?: (tunnel: Tunnel, error: ScroogeError) => void;
  /** Called when an authenticated packet arrived from a new source address (roaming). */
  onEndpointChange?: (tunnel: Tunnel, peer: SockAddr) => void;
  /** Called after a batch in which a pending session became current (the peer proved its keys). */
  onRotation?: (tunnel: Tunnel) => void;
}

/** The rule of Tunnel.offerControlEndpoint, pure. */
export function adoptControlEndpoint(hasPeer: boolean, lastAuthRecvMs: number, nowMs: number): boolean {
  return !hasPeer || lastAuthRecvMs === Number.NEGATIVE_INFINITY || nowMs - lastAuthRecvMs >= DEAD_AFTER_MS;
}

function align(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

export class Dataplane {
  readonly backend: CryptoBackend;
  readonly log: Logger;
  readonly now: () => number;
  readonly wantGso: boolean;
  readonly wantGro: boolean;
  readonly maxMtu: number;
  readonly socketBuffer: number;
  readonly tunSlot: number;
  readonly tunBatch: number;
  readonly udpSlot: number;
  readonly udpBatch: number;
  /** Shared by every tunnel: packets from TUN reads, encrypted in place. */
  readonly tunSlab: Uint8Array;
  readonly tunMeta: Int32Array;
  /** Shared by every tunnel: datagrams from recvmmsg, decrypted in place. */
  readonly udpSlab: Uint8Array;
  readonly udpMeta: Int32Array;
  readonly udpAddrs: Uint8Array;
  /** Send/write lists built from a batch. */
  readonly out: Int32Array;
  readonly tunnels = new Set<Tunnel>();
  readonly ratelog: RateLimitedLog;
  /** Out-parameter of TunnelCore.openList. */
  readonly lastSlot = new Int32Array(1);
  readonly drainAfterWrite: boolean;
  private readonly warmIntervalMs: number;
  private readonly warmHoldMs: number;
  private warmTimer: NodeJS.Timeout | undefined;
  /** Last time a data batch went through (ms, dp.now()). */
  private lastData = Number.NEGATIVE_INFINITY;
  private readonly scratch: TunnelCore;
  private readonly scratchPeer: TunnelCore;
  private readonly scratchBuf = new Uint8Array(HEADER_BYTES + 1420 + TAG_BYTES);
  private readonly scratchMeta = new Int32Array(4);

  constructor(opts: DataplaneOptions) {
    this.drainAfterWrite = opts.drainAfterWrite ?? true;
    this.warmIntervalMs = opts.warm?.intervalMs ?? 1;
    this.warmHoldMs = opts.warm?.holdMs ?? 1000;
    this.scratch = new TunnelCore(opts.backend);
    this.scratch.install({ sendKey: new Uint8Array(32), recvKey: new Uint8Array(32), sessionId: 1 }, 0, 'initiator');
    this.scratchPeer = new TunnelCore(opts.backend);
    this.scratchPeer.install(
      { sendKey: new Uint8Array(32), recvKey: new Uint8Array(32), sessionId: 1 },
      0,
      'responder',
    );
    if (opts.prewarm ?? true) this.prewarm();
    this.backend = opts.backend;
    this.log = opts.log ?? nullLogger;
    this.now = opts.now ?? (() => performance.now());
    this.wantGso = opts.gso ?? true;
    this.wantGro = opts.gro ?? true;
    this.maxMtu = opts.maxMtu ?? 9000;
    this.socketBuffer = opts.socketBuffer ?? 4 << 20;
    this.tunBatch = opts.tunBatch ?? 64;
    this.tunSlot = align(HEADER_BYTES + this.maxMtu + TAG_BYTES, 64);
    this.udpBatch = opts.udpBatch ?? (this.wantGro ? 16 : 64);
    this.udpSlot = this.wantGro ? GRO_SLOT : align(this.maxMtu + TUNNEL_OVERHEAD + 64, 64);
    const n = native();
    this.tunSlab = new Uint8Array(this.tunSlot * this.tunBatch);
    this.tunMeta = new Int32Array(this.tunBatch * META);
    const udpEntries = this.udpBatch * (this.wantGro ? 64 : 1);
    this.udpSlab = new Uint8Array(this.udpSlot * this.udpBatch);
    this.udpMeta = new Int32Array(udpEntries * META);
    this.udpAddrs = new Uint8Array(this.udpBatch * n.ADDR_STRIDE);
    this.out = new Int32Array(Math.max(this.tunBatch, udpEntries) * META);
    this.ratelog = new RateLimitedLog(this.log);
  }

  /** Runs the packet path on scratch data until V8 has optimized it. */
  private prewarm(): void {
    for (let i = 0; i < 3000; i++) this.exercise(i % 3 === 0 ? 1420 : 64);
  }

  /** One batch of one packet through sealList + openList: the code a real packet runs. */
  private exercise(len: number): void {
    const m = this.scratchMeta;
    m[0] = HEADER_BYTES;
    m[1] = len;
    const k = this.scratch.sealList(this.scratchBuf, m, 1, m, 0);
    m[3] = 0;
    this.scratchPeer.openList(this.scratchBuf, m, k, m, 0, this.lastSlot);
  }

  /** Called by tunnels for every data batch: keeps the latency keeper running while traffic flows. */
  noteActivity(nowMs: number): void {
    this.lastData = nowMs;
    if (this.warmTimer === undefined && this.warmIntervalMs > 0) {
      this.warmTimer = setInterval(() => {
        if (this.now() - this.lastData > this.warmHoldMs) {
          clearInterval(this.warmTimer);
          this.warmTimer = undefined;
          return;
        }
        this.exercise(64);
      }, this.warmIntervalMs);
      this.warmTimer.unref();
    }
  }

  createTunnel(opts: TunnelOptions): Tunnel {
    if (opts.mtu > this.maxMtu) {
      throw new ScroogeError(
        'ERR_DEVICE',
        `${opts.name}: MTU ${opts.mtu} exceeds the data plane's maximum ${this.maxMtu}`,
      );
    }
    const t = new Tunnel(this, opts);
    this.tunnels.add(t);
    return t;
  }

  /** Closes every tunnel (their devices vanish with their fds). */
  close(): void {
    for (const t of this.tunnels) t.close();
    if (this.warmTimer) clearInterval(this.warmTimer);
    this.warmTimer = undefined;
  }
}

export interface TunnelStats {
  name: string;
  ifindex: number;
  udpPort: number;
  peer: string | null;
  gso: boolean;
  gro: boolean;
  counters: Record<string, number>;
  lastAuthRecvMs: number;
  sessions: { current: number | null; previous: number | null; pending: number | null; currentAgeMs: number | null };
  tunReads: { wakeups: number; packets: number; errors: number; fullBatches: number; truncated: number };
  udpReads: {
    wakeups: number;
    datagrams: number;
    errors: number;
    truncated: number;
    groMessages: number;
    overflow: number;
  };
}

export class Tunnel {
  readonly dp: Dataplane;
  readonly name: string;
  readonly device: TunDevice;
  readonly mtu: number;
  readonly udpPort: number;
  readonly core: TunnelCore;
  gso: boolean;
  readonly gro: boolean;
  peer: SockAddr | undefined;
  egress: DirectionStage | null = null;
  ingress: DirectionStage | null = null;
  /** Index of this tunnel in traffic control's schedulers (-1: not attached). */
  tcIndex = -1;
  closed = false;
  readonly tunStats: Float64Array;
  readonly udpStats: Float64Array;
  private peerBytes: Uint8Array | undefined;
  private readonly udpFd: number;
  private readonly tunPort: NativePort;
  private readonly udpPortHandle: NativePort;
  private readonly opts: TunnelOptions;
  private readonly keepaliveBuf = new Uint8Array(TUNNEL_OVERHEAD);
  /** Scratch list for packets released by a stage (transmit/deliver). */
  private pendingOut: Int32Array;
  private pendingBuf: Uint8Array | null = null;
  private pendingCount = 0;

  constructor(dp: Dataplane, opts: TunnelOptions) {
    this.dp = dp;
    this.opts = opts;
    this.name = opts.name;
    this.mtu = opts.mtu;
    this.core = new TunnelCore(dp.backend);
    const n = native();
    this.tunStats = new Float64Array(n.STATS_SLOTS);
    this.udpStats = new Float64Array(n.STATS_SLOTS);
    this.pendingOut = new Int32Array(dp.tunBatch * META);
    this.device = openTunDevice(opts.name, opts.mtu, opts.addresses);
    let udp: { fd: number; port: number; gso: boolean; gro: boolean };
    try {
      udp = n.udpOpen({
        family: 6,
        port: opts.port ?? 0,
        v6only: false,
        gro: dp.wantGro,
        rcvbuf: dp.socketBuffer,
        sndbuf: dp.socketBuffer,
      });
    } catch (e) {
      n.closeFd(this.device.fd);
      throw nativeError('ERR_SOCKET', `${opts.name}: cannot open the tunnel's UDP socket`, e);
    }
    this.udpFd = udp.fd;
    this.udpPort = udp.port;
    this.gso = dp.wantGso && udp.gso;
    this.gro = udp.gro;
    // A Port owns its fd from construction: closing the Port stops polling and then closes the fd.
    // Closing an fd behind a live Port would leave it polling whatever reuses that fd number.
    let tunPort: NativePort | undefined;
    let udpPort: NativePort | undefined;
    try {
      tunPort = new n.Port(
        KIND_TUN,
        this.device.fd,
        dp.tunSlab,
        dp.tunMeta,
        this.tunStats,
        null,
        dp.tunSlot,
        HEADER_BYTES,
        TAG_BYTES,
        dp.tunBatch,
        this.onTunBatch,
      );
      udpPort = new n.Port(
        KIND_UDP,
        udp.fd,
        dp.udpSlab,
        dp.udpMeta,
        this.udpStats,
        dp.udpAddrs,
        dp.udpSlot,
        0,
        0,
        dp.udpBatch,
        this.onUdpBatch,
      );
      tunPort.start();
      udpPort.start();
    } catch (e) {
      if (tunPort) tunPort.close();
      else n.closeFd(this.device.fd);
      if (udpPort) udpPort.close();
      else n.closeFd(udp.fd);
      throw nativeError('ERR_DEVICE', `${opts.name}: cannot poll`, e);
    }
    this.tunPort = tunPort;
    this.udpPortHandle = udpPort;
    if (opts.peer) this.setPeer(opts.peer);
  }

  /** Where encrypted packets go. IPv4 peers are reached through the dual-stack socket as v4-mapped. */
  setPeer(peer: SockAddr): void {
    this.peer = peer;
    this.peerBytes = encodeSockaddr(toMapped6(peer));
  }

  /**
   * An endpoint learned from a control message (its datagram source, which
   * anyone on the link can forge or race). Adopted only when the tunnel has
   * no endpoint yet or its peer has authenticated nothing for DEAD_AFTER_MS
   * (the old one is not working anyway); otherwise only an authenticated data
   * packet moves it (checkRoaming), as in WireGuard. Returns whether it was adopted.
   */
  offerControlEndpoint(peer: SockAddr, nowMs = this.dp.now()): boolean {
    if (!adoptControlEndpoint(this.peer !== undefined, this.core.lastAuthRecvMs, nowMs)) return false;
    this.setPeer(peer);
    return true;
  }

  installSession(keys: SessionKeys, role: 'initiator' | 'responder', nowMs = this.dp.now()): boolean {
    const ok = this.core.install(keys, nowMs, role);
    // The initiator proves it has the keys right away, so the responder switches without waiting for data.
    if (ok && role === 'initiator') this.sendKeepalive(nowMs);
    return ok;
  }

  /** Polled by the owner's tick. Sends the keepalive itself; the rest is for the control plane. */
  tick(nowMs = this.dp.now()): TickResult {
    const r = this.core.tick(nowMs);
    if (r.keepalive && this.peerBytes) this.sendKeepalive(nowMs);
    return r;
  }

  sendKeepalive(nowMs = this.dp.now()): void {
    if (!this.peerBytes) return;
    const b = this.keepaliveBuf;
    const n = this.core.seal(b, 0, 0, nowMs);
    if (n === 0) return;
    const r = native().udpSendTo(this.udpFd, b, 0, n, this.peerBytes);
    if (r < 0) {
      this.core.counters.dropSendError++;
      this.dp.ratelog.emit('debug', `${this.name}:ka`, nowMs, 'keepalive send failed', {
        tun: this.name,
        errno: native().errnoName(r),
      });
    }
  }

  // --- send path -------------------------------------------------------------------------------

  private readonly onTunBatch = (n: number): void => {
    const dp = this.dp;
    if (n < 0) {
      this.fail(`TUN read failed (${native().errnoName(n)})`);
      return;
    }
    const now = dp.now();
    const slab = dp.tunSlab;
    const meta = dp.tunMeta;
    const out = dp.out;
    const core = this.core;
    const stage = this.egress;
    let k: number;
    if (stage === null) {
      k = core.sealList(slab, meta, n, out, now);
    } else {
      k = 0;
      for (let i = 0; i < n; i++) {
        const off = meta[i * META] as number;
        const len = meta[i * META + 1] as number;
        if (!stage.offer(this, slab, off, len, now)) continue;
        const w = core.seal(slab, off - HEADER_BYTES, len, now);
        if (w === 0) continue;
        out[k * META] = off - HEADER_BYTES;
        out[k * META + 1] = w;
        k++;
      }
    }
    if (k > 0) this.sendList(slab, out, k, now);
    if (stage?.endBatch) stage.endBatch(now);
    dp.noteActivity(now);
  };

  /** Sends out[0..k) (already sealed) to the peer; accounts for failures exactly. */
  private sendList(buf: Uint8Array, out: Int32Array, k: number, now: number): void {
    const peer = this.peerBytes;
    const c = this.core.counters;
    if (peer === undefined) {
      this.unsend(out, 0, k);
      c.dropNoSession += k;
      return;
    }
    const nat = native();
    let sent = nat.udpSendBatch(this.udpFd, buf, out, 0, k, peer, this.gso);
    if (sent < k && this.gso) {
      const e = nat.lastErrno();
      if (e === EIO || e === EINVAL || e === EOPNOTSUPP) {
        this.gso = false;
        this.dp.log.warn('UDP GSO failed on this path; sending without it', {
          tun: this.name,
          errno: nat.errnoName(e),
        });
        sent += nat.udpSendBatch(this.udpFd, buf, out, sent, k - sent, peer, false);
      }
    }
    if (sent < k) {
      this.unsend(out, sent, k);
      c.dropSendError += k - sent;
      this.dp.ratelog.emit('warn', `${this.name}:send`, now, 'UDP send failed; packets dropped', {
        tun: this.name,
        dropped: k - sent,
        errno: nat.errnoName(nat.lastErrno()),
      });
    }
  }

  /** Takes packets that were sealed but never left back out of the tx counters. */
  private unsend(out: Int32Array, from: number, to: number): void {
    const c = this.core.counters;
    for (let i = from; i < to; i++) {
      const w = out[i * META + 1] as number;
      if (w === TUNNEL_OVERHEAD) c.txKeepalives--;
      else {
        c.txPackets--;
        c.txBytes -= w - TUNNEL_OVERHEAD;
      }
      c.txWireBytes -= w;
    }
  }

  // --- receive path ----------------------------------------------------------------------------

  private readonly onUdpBatch = (n: number): void => {
    const dp = this.dp;
    if (n < 0) {
      this.fail(`UDP receive failed (${native().errnoName(n)})`);
      return;
    }
    const now = dp.now();
    const slab = dp.udpSlab;
    const meta = dp.udpMeta;
    const out = dp.out;
    const core = this.core;
    const stage = this.ingress;
    const c = core.counters;
    const rotations = c.rotations;
    const dropsBefore = c.dropBadTag + c.dropMalformed + c.dropReplay + c.dropStaleSession;
    const lastSlotBox = dp.lastSlot;
    let k: number;
    if (stage === null) {
      k = core.openList(slab, meta, n, out, now, lastSlotBox);
    } else {
      k = 0;
      lastSlotBox[0] = -1;
      for (let e = 0; e < n; e++) {
        const off = meta[e * META] as number;
        const plen = core.open(slab, off, meta[e * META + 1] as number, now);
        if (plen < 0) continue;
        lastSlotBox[0] = meta[e * META + 3] as number;
        if (plen === 0) continue;
        const p = off + HEADER_BYTES;
        if (!stage.offer(this, slab, p, plen, now)) continue;
        out[k * META] = p;
        out[k * META + 1] = plen;
        k++;
      }
    }
    const lastSlot = lastSlotBox[0] as number;
    if (lastSlot >= 0) this.checkRoaming(lastSlot);
    if (k > 0) {
      this.writeList(slab, out, k, now);
      // The kernel often answers inside the write (ICMP echo, TCP ACKs): send the answer
      // from this same wake-up instead of another trip through the event loop.
      if (dp.drainAfterWrite) this.tunPort.pollNow();
      dp.noteActivity(now);
    }
    if (stage?.endBatch) stage.endBatch(now);
    if (c.rotations !== rotations) this.opts.onRotation?.(this);
    // only when this batch dropped something (keepalives also leave k < n)
    if (c.dropBadTag + c.dropMalformed + c.dropReplay + c.dropStaleSession !== dropsBefore) {
      dp.ratelog.emit('debug', `${this.name}:rxdrop`, now, 'dropped received datagrams', {
        tun: this.name,
        malformed: c.dropMalformed,
        badTag: c.dropBadTag,
        replay: c.dropReplay,
        staleSession: c.dropStaleSession,
      });
    }
  };

  private writeList(buf: Uint8Array, out: Int32Array, k: number, now: number): void {
    const written = native().tunWriteBatch(this.device.fd, buf, out, 0, k);
    if (written < k) {
      this.core.counters.dropDeviceError += k - written;
      this.dp.ratelog.emit('warn', `${this.name}:tunwrite`, now, 'TUN write failed; packets dropped', {
        tun: this.name,
        dropped: k - written,
        errno: native().errnoName(native().lastErrno()),
      });
    }
  }

  /** An authenticated packet from a new address: follow the peer (like WireGuard). */
  private checkRoaming(slot: number): void {
    const peer = this.peerBytes;
    const addrs = this.dp.udpAddrs;
    const base = slot * 32;
    if (peer !== undefined) {
      let same = true;
      for (let i = 0; i < peer.length; i++) {
        if (addrs[base + i] !== peer[i]) {
          same = false;
          break;
        }
      }
      if (same) return;
    }
    const sa = decodeSockaddr(addrs, base);
    if (!sa) return;
    this.setPeer(sa);
    this.dp.log.info('peer endpoint changed', { tun: this.name, endpoint: formatSockaddr(sa) });
    this.opts.onEndpointChange?.(this, sa);
  }

  // --- stage release (traffic control) --------------------------------------------------------

  /**
   * Encrypts and queues for sending a packet a stage held: payload at
   * buf[off..off+len) with HEADER_BYTES headroom and TAG_BYTES tailroom.
   * Call flush() after a run of these.
   */
  transmit(buf: Uint8Array, off: number, len: number, nowMs: number): void {
    if (this.pendingBuf !== buf || this.pendingCount >= this.pendingOut.length / META) {
      this.flush(nowMs);
      this.pendingBuf = buf;
    }
    const w = this.core.seal(buf, off - HEADER_BYTES, len, nowMs);
    if (w === 0) return;
    this.pendingOut[this.pendingCount * META] = off - HEADER_BYTES;
    this.pendingOut[this.pendingCount * META + 1] = w;
    this.pendingCount++;
  }

  flush(nowMs: number): void {
    if (this.pendingCount > 0 && this.pendingBuf)
      this.sendList(this.pendingBuf, this.pendingOut, this.pendingCount, nowMs);
    this.pendingCount = 0;
    this.pendingBuf = null;
  }

  /** Writes a packet a stage held to the TUN device. */
  deliver(buf: Uint8Array, off: number, len: number, nowMs: number): void {
    const o = this.pendingOut;
    o[0] = off;
    o[1] = len;
    this.writeList(buf, o, 1, nowMs);
  }

  // --- lifecycle ----------------------------------------------------------------------------

  private fail(reason: string): void {
    if (this.closed) return;
    const err = new ScroogeError('ERR_DEVICE', `${this.name}: ${reason}`);
    this.dp.log.error('tunnel I/O failed', { tun: this.name, reason });
    this.close();
    this.opts.onFailure?.(this, err);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.core.clear();
    this.tunPort.close();
    this.udpPortHandle.close();
    this.dp.tunnels.delete(this);
  }

  stats(): TunnelStats {
    const c = this.core.counters;
    const now = this.dp.now();
    const t = this.tunStats;
    const u = this.udpStats;
    return {
      name: this.name,
      ifindex: this.device.ifindex,
      udpPort: this.udpPort,
      peer: this.peer ? formatSockaddr(this.peer) : null,
      gso: this.gso,
      gro: this.gro,
      counters: { ...c },
      lastAuthRecvMs: this.core.lastAuthRecvMs,
      sessions: {
        current: this.core.current?.id ?? null,
        previous: this.core.previous?.id ?? null,
        pending: this.core.pending?.id ?? null,
        currentAgeMs: this.core.current ? now - this.core.current.createdMs : null,
      },
      tunReads: {
        wakeups: t[PortStat.wakeups] as number,
        packets: t[PortStat.readPackets] as number,
        errors: t[PortStat.readErrors] as number,
        fullBatches: t[PortStat.fullBatches] as number,
        truncated: t[PortStat.truncated] as number,
      },
      udpReads: {
        wakeups: u[PortStat.wakeups] as number,
        datagrams: u[PortStat.readPackets] as number,
        errors: u[PortStat.readErrors] as number,
        truncated: u[PortStat.truncated] as number,
        groMessages: u[PortStat.groMessages] as number,
        overflow: u[PortStat.overflow] as number,
      },
    };
  }
}

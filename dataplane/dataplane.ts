/**
 * The data plane's shared state: the packet slabs every tunnel borrows (a
 * batch is handled inside one callback, so one set serves all), the tunnel
 * sockets and tunnels it made, the rate-limited log, and the latency keeper
 * that keeps the packet path warm while traffic flows.
 */
import { DataplaneError } from './errors.js';
import { MTU, NATIVE } from '../base/constants.js';
import { performance } from 'node:perf_hooks';
import { type CryptoBackend } from '../crypto/index.js';
import { TunnelSocket, type TunnelSocketOptions } from './endpoint.js';
import { type Logger, nullLogger, RateLimitedLog } from './log.js';
import { native } from './native.js';
import { HEADER_BYTES, TAG_BYTES, TUNNEL_OVERHEAD } from './packet.js';
import { TunnelCore } from './session.js';
import type { DataplaneContext } from './shared.js';
import { Tunnel, type TunnelOptions } from './tunnel.js';

/** UDP GRO delivers up to 64 KiB per message. */
const META = 4;

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
  /** SO_RCVBUF / SO_SNDBUF of the tunnel sockets (default 4 MiB). */
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

function align(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

export class Dataplane implements DataplaneContext {
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
  readonly sockets = new Set<TunnelSocket>();
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
    this.scratchPeer = new TunnelCore(opts.backend);
    this.provenScratch();
    if (opts.prewarm ?? true) this.prewarm();
    this.backend = opts.backend;
    this.log = opts.log ?? nullLogger;
    this.now = opts.now ?? (() => performance.now());
    this.wantGso = opts.gso ?? true;
    this.wantGro = opts.gro ?? true;
    this.maxMtu = opts.maxMtu ?? MTU.maxDefault;
    this.socketBuffer = opts.socketBuffer ?? 4 << 20;
    this.tunBatch = opts.tunBatch ?? 64;
    this.tunSlot = align(HEADER_BYTES + this.maxMtu + TAG_BYTES, 64);
    this.udpBatch = opts.udpBatch ?? (this.wantGro ? 16 : 64);
    this.udpSlot = this.wantGro ? NATIVE.groSlotBytes : align(this.maxMtu + TUNNEL_OVERHEAD + 64, 64);
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

  /** Two scratch cores with a proven session between them (the handshake's probe and ack). */
  private provenScratch(): void {
    const keys = { sendKey: new Uint8Array(32), recvKey: new Uint8Array(32), sessionId: 1 };
    this.scratch.install(keys, 0, 'initiator');
    this.scratchPeer.install(keys, 0, 'responder');
    const b = this.scratchBuf;
    this.scratchPeer.open(b, 0, this.scratch.sealProbe(b, 0, 0), 0);
    this.scratch.open(b, 0, this.scratchPeer.seal(b, 0, 0, 0), 0);
    this.scratchPeer.ackDue = false;
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
    this.scratchPeer.openList(this.scratchBuf, m, 0, k, m, 0, this.lastSlot);
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

  closed(part: object): void {
    this.tunnels.delete(part as Tunnel);
    this.sockets.delete(part as TunnelSocket);
  }

  /** A shared tunnel socket (one per mesh interface). */
  openSocket(opts: TunnelSocketOptions = {}): TunnelSocket {
    const s = new TunnelSocket(this, opts);
    this.sockets.add(s);
    return s;
  }

  createTunnel(opts: TunnelOptions): Tunnel {
    if (opts.mtu > this.maxMtu) {
      throw new DataplaneError(
        'ERR_DEVICE',
        `${opts.name}: MTU ${opts.mtu} exceeds the data plane's maximum ${this.maxMtu}`,
      );
    }
    const t = new Tunnel(this, opts);
    this.tunnels.add(t);
    return t;
  }

  /** Closes every tunnel (their devices vanish with their fds) and socket. */
  close(): void {
    for (const t of this.tunnels) t.close();
    for (const s of this.sockets) s.close();
    if (this.warmTimer) clearInterval(this.warmTimer);
    this.warmTimer = undefined;
  }
}

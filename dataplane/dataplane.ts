/**
 * The data plane's shared state: the packet slabs every tunnel borrows (a
 * batch is handled inside one callback, so one set serves all), the tunnel
 * sockets and tunnels it made, the rate-limited log, and the latency keeper
 * that keeps the packet path warm while traffic flows.
 */
import { DataplaneError } from './errors.js';
import { TunnelSocket, type TunnelSocketOptions } from './endpoint.js';
import { HEADER_BYTES, TAG_BYTES } from './packet.js';
import { TunnelCore } from './session.js';
import { DataplaneContext, type SharedOptions } from './shared.js';
import { Tunnel, type TunnelOptions } from './tunnel.js';

export interface DataplaneOptions extends SharedOptions {
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

export class Dataplane extends DataplaneContext {
  readonly tunnels = new Set<Tunnel>();
  readonly sockets = new Set<TunnelSocket>();
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
    super(opts);
    this.warmIntervalMs = opts.warm?.intervalMs ?? 1;
    this.warmHoldMs = opts.warm?.holdMs ?? 1000;

    this.scratch = new TunnelCore(opts.backend);
    this.scratchPeer = new TunnelCore(opts.backend);
    this.provenScratch();
    if (opts.prewarm ?? true) this.prewarm();
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
  override noteActivity(nowMs: number): void {
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

  override closed(part: object): void {
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

/**
 * The data plane's shared state: the packet slabs every tunnel borrows (a
 * batch is handled inside one callback, so one set serves all), the tunnel
 * sockets and tunnels it made, the rate-limited log, and the latency keeper
 * that keeps the packet path warm while traffic flows.
 */
import { DataplaneError } from './errors.js';
import { TunnelSocket, type TunnelSocketOptions } from './endpoint.js';
import { native } from './native.js';
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
  /** The far end of the keeper's scratch tunnel: seals what it receives, opens what it sends. */
  private readonly scratchPeer: TunnelCore;
  /** The keeper's scratch socket and tunnel: real send and receive code, no fd, no device, no peer. */
  private readonly scratchSocket: TunnelSocket;
  private readonly scratchTunnel: Tunnel;
  private readonly scratchBuf = new Uint8Array(HEADER_BYTES + TAG_BYTES);
  private scratchSession = 0;
  private scratchProvenMs = 0;
  private passes = 0;

  constructor(opts: DataplaneOptions) {
    super(opts);
    this.warmIntervalMs = opts.warm?.intervalMs ?? 1;
    this.warmHoldMs = opts.warm?.holdMs ?? 1000;
    this.scratchPeer = new TunnelCore(opts.backend);
    this.scratchSocket = new TunnelSocket(this, { scratch: true });
    this.scratchTunnel = new Tunnel(this, {
      name: 'scratch',
      mtu: 1420,
      addresses: [],
      socket: this.scratchSocket,
      scratch: true,
    });
    this.proveScratch(this.now());
    if (this.fastPath) native().Express.keeper(this.warmIntervalMs, this.warmHoldMs);
    if (opts.prewarm ?? true) this.prewarm();
  }

  /**
   * A proven session between the scratch tunnel and its far end (the handshake's probe and
   * ack), made again before it could age out (sessions are refused after REJECT_AFTER_MS).
   */
  private proveScratch(nowMs: number): void {
    this.scratchSession = (this.scratchSession % 0xffff) + 1;
    const keys = { sendKey: new Uint8Array(32), recvKey: new Uint8Array(32), sessionId: this.scratchSession };
    const core = this.scratchTunnel.core;
    this.scratchTunnel.installSession(keys, 'initiator', nowMs); // no peer: the probe goes nowhere
    this.scratchPeer.install(keys, nowMs, 'responder');
    const b = this.scratchBuf;
    this.scratchPeer.open(b, 0, core.sealProbe(b, 0, nowMs), nowMs);
    core.open(b, 0, this.scratchPeer.seal(b, 0, 0, nowMs), nowMs);
    this.scratchPeer.ackDue = false;
    this.scratchTunnel.tick(nowMs); // the socket's index follows the session
    this.scratchProvenMs = nowMs;
  }

  /** Scratch passes the latency keeper has run (for tests and diagnostics). */
  get keeperPasses(): number {
    return this.passes;
  }

  /** Scratch passes the native latency keeper has run (every data plane of the process: it is one timer). */
  get nativeKeeperPasses(): number {
    return this.fastPath ? native().Express.keeper(this.warmIntervalMs, this.warmHoldMs) : 0;
  }

  /** Runs the packet path on scratch data until V8 has optimized it. */
  private prewarm(): void {
    for (let i = 0; i < 3000; i++) this.exercise(i % 3 === 0 ? 1420 : 64);
  }

  /**
   * One packet each way through the code a real packet runs: the TUN batch callback, traffic
   * control's absence, sealList and the send (which finds no peer: counted, not sent) of the
   * scratch tunnel; then the socket's batch callback, the demultiplexer, openList and the
   * write (which a scratch tunnel skips). Runs between batches (a timer, or the constructor),
   * when the shared slabs are free. The packet is IPv6 multicast, so it does not count as data.
   */
  private exercise(len: number): void {
    const now = this.now();
    if (now - this.scratchProvenMs > 60_000) this.proveScratch(now);
    const tun = this.tunSlab;
    tun[HEADER_BYTES] = 0x60;
    tun[HEADER_BYTES + 24] = 0xff;
    this.tunMeta[0] = HEADER_BYTES;
    this.tunMeta[1] = len;
    this.scratchTunnel.exerciseSend(1);
    const udp = this.udpSlab;
    udp[HEADER_BYTES] = 0x60;
    udp[HEADER_BYTES + 24] = 0xff;
    const w = this.scratchPeer.seal(udp, 0, len, now);
    const m = this.udpMeta;
    m[0] = 0;
    m[1] = w;
    m[2] = 0;
    m[3] = 0;
    this.scratchSocket.exerciseBatch(w > 0 ? 1 : 0);
  }

  /** Called by tunnels for every data batch: keeps the latency keeper running while traffic flows. */
  override noteActivity(nowMs: number): void {
    this.lastData = nowMs;

    if (this.warmTimer === undefined && this.warmIntervalMs > 0) {
      this.warmTimer = setInterval(() => {
        const idle = this.now() - this.lastData;
        if (idle > this.warmHoldMs) {
          clearInterval(this.warmTimer);
          this.warmTimer = undefined;
          return;
        }
        // The path ran for real within the last interval, so it is warm. libuv runs due timers
        // right after the I/O callbacks, so a keeper pass now would lengthen the wake-up that
        // carried the packet and delay whoever that packet woke on this CPU (ping, the peer).
        if (idle < this.warmIntervalMs) return;
        this.passes++;
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

/**
 * The packet path's I/O shell. Pipeline, per tunnel:
 *
 *   send:    TUN fd ──read batch (super-packets split, native)──▶ tunSlab ──[egress stage]──▶ seal in place
 *            ──▶ udpSendBatch (UDP GSO runs, sendmmsg) ──▶ peer
 *   receive: the interface's shared UDP socket (endpoint.ts) ──recvmmsg──▶
 *            udpSlab ──demux by session id──▶ open in place
 *            ──[ingress stage]──▶ tunWriteBatch (runs coalesced, native) ──▶ TUN fd
 *
 * A tunnel has no TUN device until it is established: its first session
 * became current, so the peer has proven its keys with an authenticated
 * packet (session.ts). Before that it is a TunnelCore and a few session ids
 * in the socket's index; nothing a flood of signed handshakes can multiply
 * into devices or descriptors.
 *
 * Every step of a batch runs synchronously inside the one callback the addon
 * makes per wake-up, so all tunnels share one set of slabs (no per-tunnel
 * packet memory, no copies, no allocation per packet). Latency: a batch is
 * sent as soon as the read loop drains; nothing waits for a timer.
 *
 * The stages are where traffic control sits (dataplane/tc/stage.ts); null = pass-through.
 * Nothing here throws on packet input: drops are counted in the tunnel's
 * TunnelCounters and summarised in rate-limited log lines.
 */
import { isScroogeError, type ScroogeError } from '../base/errors.js';
import { DataplaneError } from './errors.js';
import type { DataplaneContext, SessionReceiver } from './shared.js';
import type { TunnelSocket } from './endpoint.js';
import { type InterfaceAddress, NO_OFFLOAD, openTunDevice, type TunDevice, type TunOffload } from './link.js';
import { KIND_TUN, type NativePort, native, nativeError, PortStat, TunWrite, type TunWriteMode } from './native.js';
import { anyUnicast, HEADER_BYTES, TAG_BYTES, TUNNEL_OVERHEAD } from './packet.js';
import { FastPath } from './fastpath.js';
import { adoptControlEndpoint, type SessionKeys, type TickResult, TunnelCore } from './session.js';
import { decodeSockaddr, encodeSockaddr, formatSockaddr, type SockAddr, toMapped6 } from './sockaddr.js';

/** Int32 entries per packet in the meta arrays: offset, length, interface, address slot. */
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

export interface TunnelOptions {
  /** TUN device name (the device is created when the tunnel is established). */
  name: string;
  mtu: number;
  /** Addresses put on the TUN device (link-local and node addresses). */
  addresses: InterfaceAddress[];
  /** The mesh interface's shared UDP socket. */
  socket: TunnelSocket;
  peer?: SockAddr;
  /** Called once when the TUN device or the socket fails for good. */
  onFailure?: (tunnel: Tunnel, error: ScroogeError) => void;
  /** Called when an authenticated packet arrived from a new source address (roaming). */
  onEndpointChange?: (tunnel: Tunnel, peer: SockAddr) => void;
  /** Called after a batch in which a pending session became current (the peer proved its keys). */
  onRotation?: (tunnel: Tunnel) => void;
  /** Called once, when the first session became current and the TUN device exists. */
  onEstablished?: (tunnel: Tunnel) => void;
  /**
   * A scratch tunnel for the latency keeper (dataplane.ts), on a scratch socket and without a
   * peer: it never makes a device, never writes one, never sends and never roams; the keeper
   * runs its real send and receive code on scratch packets.
   */
  scratch?: boolean;
}

export interface TunnelStats {
  name: string;
  /** 0 until the tunnel is established (no TUN device before that). */
  ifindex: number;
  established: boolean;
  udpPort: number;
  peer: string | null;
  gso: boolean;
  gro: boolean;
  /** The TUN device's offloads (all false until established, or with --no-tun-offload). */
  offload: TunOffload;
  /** Whether the native lone-packet path is armed (see doc/ARCHITECTURE.md). */
  fastPath: boolean;
  counters: Record<string, number>;
  lastAuthRecvMs: number;
  sessions: { current: number | null; previous: number | null; pending: number | null; currentAgeMs: number | null };
  tunReads: {
    wakeups: number;
    packets: number;
    errors: number;
    fullBatches: number;
    truncated: number;
    /** Reads that carried a super-packet (split into `packets`). */
    superPackets: number;
    /** Reads dropped because the virtio header and the packet did not add up. */
    offloadBad: number;
  };
  tunWrites: {
    /** Super-packets written (coalesced runs) and the packets inside them. */
    superPackets: number;
    merged: number;
    /** Coalescing candidates written alone because a checksum did not verify. */
    badChecksum: number;
    errors: number;
  };
  /** The shared socket's reads (every tunnel on the interface). */
  udpReads: {
    wakeups: number;
    datagrams: number;
    errors: number;
    truncated: number;
    groMessages: number;
    overflow: number;
    unknownSession: number;
  };
}

export class Tunnel implements SessionReceiver {
  readonly dp: DataplaneContext;
  readonly name: string;
  readonly mtu: number;
  readonly core: TunnelCore;
  readonly socket: TunnelSocket;
  /** The TUN device: undefined until the tunnel is established. */
  device: TunDevice | undefined;
  peer: SockAddr | undefined;
  egress: DirectionStage | null = null;
  ingress: DirectionStage | null = null;
  /** Index of this tunnel in traffic control's schedulers (-1: not attached). */
  tcIndex = -1;
  closed = false;
  readonly tunStats: Float64Array;
  private peerBytes: Uint8Array | undefined;
  /** Where the initiator's probes go: the endpoint of the confirm that answered it. */
  private probeBytes: Uint8Array | undefined;
  private tunPort: NativePort | undefined;
  private readonly opts: TunnelOptions;
  private readonly keepaliveBuf = new Uint8Array(TUNNEL_OVERHEAD);
  /** Session ids this tunnel holds in the socket's index. */
  private ids: number[] = [];
  /** Scratch list for packets released by a stage (transmit/deliver). */
  private pendingOut: Int32Array;
  private pendingBuf: Uint8Array | null = null;
  private pendingCount = 0;
  /** How packets are written to the device (tunWriteBatch's mode). */
  private writeMode: TunWriteMode = TunWrite.plain;
  /** The native lone-packet path (undefined when the data plane runs without it). */
  private readonly fast: FastPath | undefined;

  constructor(dp: DataplaneContext, opts: TunnelOptions) {
    if (opts.socket.closed) throw new DataplaneError('ERR_SOCKET', `${opts.name}: the tunnel socket is closed`);
    this.dp = dp;
    this.opts = opts;
    this.name = opts.name;
    this.mtu = opts.mtu;
    this.socket = opts.socket;
    this.core = new TunnelCore(dp.backend);
    this.tunStats = new Float64Array(native().STATS_SLOTS);
    this.pendingOut = new Int32Array(dp.tunBatch * META);
    if (dp.fastPath && opts.scratch !== true) this.fast = new FastPath(dp, opts.socket, this.core.counters, opts.name);
    this.socket.tunnels.add(this);
    if (opts.peer) this.setPeer(opts.peer);
  }

  get udpPort(): number {
    return this.socket.port;
  }

  get gso(): boolean {
    return this.socket.gso;
  }

  get gro(): boolean {
    return this.socket.gro;
  }

  get established(): boolean {
    return this.device !== undefined;
  }

  /**
   * Creates the TUN device and starts reading it: called when the first
   * session became current (the peer proved its keys). Returns false if the
   * device could not be made (the tunnel has then failed and is closed).
   */
  establish(): boolean {
    if (this.device !== undefined || this.opts.scratch === true) return true;
    if (this.closed) return false;
    const dp = this.dp;
    const n = native();
    let device: TunDevice;
    try {
      device = openTunDevice(this.name, this.mtu, this.opts.addresses, dp.tunOffload);
    } catch (e) {
      this.fail(isScroogeError(e) ? e : nativeError('ERR_DEVICE', `${this.name}: cannot create`, e));
      return false;
    }
    let port: NativePort | undefined;
    try {
      // A Port owns its fd from construction: closing the Port stops polling and then closes the fd.
      port = new n.Port(
        {
          kind: KIND_TUN,
          fd: device.fd,
          slab: dp.tunSlab,
          meta: dp.tunMeta,
          stats: this.tunStats,
          addrs: null,
          slotSize: dp.tunSlot,
          headroom: HEADER_BYTES,
          tailroom: TAG_BYTES,
          maxBatch: dp.tunBatch,
          vnet: device.offload.vnetHdr,
        },
        this.onTunBatch,
      );
      port.start();
    } catch (e) {
      if (port) port.close();
      else n.closeFd(device.fd);
      this.fail(nativeError('ERR_DEVICE', `${this.name}: cannot poll`, e));
      return false;
    }
    this.device = device;
    this.tunPort = port;
    const o = device.offload;
    this.writeMode = !o.vnetHdr ? TunWrite.plain : o.uso ? TunWrite.vnetUdp : TunWrite.vnet;
    this.syncExpress();
    this.opts.onEstablished?.(this);
    return true;
  }

  /** Where encrypted packets go. IPv4 peers are reached through the dual-stack socket as v4-mapped. */
  setPeer(peer: SockAddr): void {
    this.peer = peer;
    this.peerBytes = encodeSockaddr(toMapped6(peer));
    this.syncExpress();
  }

  /** Re-arms or disarms the native lone-packet path after a change (see dataplane/fastpath.ts). */
  syncExpress(): void {
    this.fast?.sync(this.closed ? undefined : this.core.current, this.peerBytes, this.tunPort, {
      rx: this.ingress === null,
      tx: this.egress === null,
    });
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

  /**
   * Installs a negotiated session as pending (session.ts). The initiator
   * probes it at `endpoint` (the confirm's source and signed port) at once;
   * the tunnel's own endpoint moves only if it has none (then to `endpoint`)
   * or when an authenticated packet arrives from elsewhere. Returns false if
   * the session id is taken (on this socket or in this tunnel).
   */
  installSession(
    keys: SessionKeys,
    role: 'initiator' | 'responder',
    nowMs = this.dp.now(),
    endpoint?: SockAddr,
  ): boolean {
    if (this.closed) return false;
    if (!this.socket.available(keys.sessionId, this)) {
      this.socket.counters.sessionCollisions++;
      return false;
    }
    if (!this.core.install(keys, nowMs, role)) return false;
    this.reindex();
    if (role === 'initiator') {
      if (endpoint !== undefined && this.peer === undefined) this.setPeer(endpoint);
      this.probeBytes = endpoint !== undefined ? encodeSockaddr(toMapped6(endpoint)) : this.peerBytes;
      this.sendProbe(nowMs);
    }
    return true;
  }

  /** Polled by the owner's tick. Sends keepalives and probes itself; the rest is for the control plane. */
  tick(nowMs = this.dp.now()): TickResult {
    const r = this.core.tick(nowMs);
    this.fast?.reportErrors(this.core.counters, nowMs);
    if (r.keepalive && this.peerBytes) this.sendKeepalive(nowMs);
    if (r.probe) this.sendProbe(nowMs);
    this.reindex(); // sessions may have expired
    return r;
  }

  /**
   * Sends the keepalive now if it would fall due within `horizonMs` anyway: called while the peer is
   * known to be awake (its hello just arrived), so the keepalive reaches it in that wake-up instead
   * of waking it (and us) on its own later.
   */
  keepaliveEarly(horizonMs: number, nowMs = this.dp.now()): boolean {
    if (this.closed || !this.peerBytes || !this.core.keepaliveDueWithin(nowMs, horizonMs)) return false;
    this.sendKeepalive(nowMs);
    return true;
  }

  sendKeepalive(nowMs = this.dp.now()): void {
    if (!this.peerBytes) return;
    const n = this.core.seal(this.keepaliveBuf, 0, 0, nowMs);
    if (n > 0) this.sendControl(n, this.peerBytes, nowMs);
  }

  /** A keepalive on the initiator's unproven pending session. */
  private sendProbe(nowMs: number): void {
    const to = this.probeBytes ?? this.peerBytes;
    if (!to) return;
    const n = this.core.sealProbe(this.keepaliveBuf, 0, nowMs);
    if (n > 0) this.sendControl(n, to, nowMs);
  }

  private sendControl(n: number, to: Uint8Array, nowMs: number): void {
    const r = this.socket.sendTo(this.keepaliveBuf, 0, n, to);
    if (r < 0) {
      this.core.counters.dropSendError++;
      this.dp.ratelog.emit('debug', `${this.name}:ka`, nowMs, 'keepalive send failed', {
        tun: this.name,
        errno: native().errnoName(r),
      });
    }
  }

  private reindex(): void {
    this.reindexIds();
    this.syncExpress();
  }

  private reindexIds(): void {
    const before = this.ids;
    const core = this.core;
    // the common case (every tick): nothing changed, nothing allocated
    if (
      !this.closed &&
      before.length === (core.current ? 1 : 0) + (core.previous ? 1 : 0) + (core.pending ? 1 : 0) &&
      (core.current === undefined || before.includes(core.current.id)) &&
      (core.previous === undefined || before.includes(core.previous.id)) &&
      (core.pending === undefined || before.includes(core.pending.id))
    )
      return;
    const now = this.closed ? [] : core.sessionIds();
    if (now.length === before.length && now.every((id, i) => id === before[i])) return;
    this.socket.reindex(this, before, now);
    this.ids = now;
  }

  // --- send path -------------------------------------------------------------------------------

  private readonly onTunBatch = (n: number): void => {
    const dp = this.dp;
    if (n < 0) {
      this.fail(new DataplaneError('ERR_DEVICE', `${this.name}: TUN read failed (${native().errnoName(n)})`));
      return;
    }
    const now = dp.now();
    const slab = dp.tunSlab;
    const meta = dp.tunMeta;
    const out = dp.out;
    const stage = this.egress;
    const unicast = anyUnicast(slab, meta, n);
    // traffic control first (it keeps what must wait and seals it when it leaves), then one seal loop
    const admitted = stage === null ? n : this.admit(stage, slab, meta, n, now);
    const k = this.core.sealList(slab, meta, admitted, out, now);
    if (k > 0) this.sendList(slab, out, k, now);
    if (stage?.endBatch) stage.endBatch(now);
    if (unicast) dp.noteActivity(now);
  };

  /** Keeps the packets of list[0..n) the traffic-control stage lets through now, in place; returns how many. */
  private admit(stage: DirectionStage, buf: Uint8Array, list: Int32Array, n: number, now: number): number {
    let k = 0;
    for (let i = 0; i < n; i++) {
      const off = list[i * META] as number;
      const len = list[i * META + 1] as number;
      if (!stage.offer(this, buf, off, len, now)) continue;
      list[k * META] = off;
      list[k * META + 1] = len;
      k++;
    }
    return k;
  }

  /** Sends out[0..k) (already sealed) to the peer; accounts for failures exactly. */
  private sendList(buf: Uint8Array, out: Int32Array, k: number, now: number): void {
    const peer = this.peerBytes;
    const c = this.core.counters;
    if (peer === undefined) {
      this.core.unsent(out, 0, k);
      c.dropNoSession += k;
      return;
    }
    const sent = this.socket.sendList(buf, out, 0, k, peer);
    if (sent < k) {
      this.core.unsent(out, sent, k);
      c.dropSendError += k - sent;
      const nat = native();
      this.dp.ratelog.emit('warn', `${this.name}:send`, now, 'UDP send failed; packets dropped', {
        tun: this.name,
        dropped: k - sent,
        errno: nat.errnoName(nat.lastErrno()),
      });
    }
  }

  // --- receive path ----------------------------------------------------------------------------

  /**
   * Datagrams [from, to) of the socket's current batch carry session ids of
   * this tunnel (the socket's demultiplexer found them). Called only by
   * TunnelSocket, synchronously inside its batch.
   */
  receive(from: number, to: number, now: number): void {
    if (this.closed) return;
    const dp = this.dp;
    const slab = dp.udpSlab;
    const meta = dp.udpMeta;
    const out = dp.out;
    const core = this.core;
    let stage = this.ingress;
    const c = core.counters;
    const rotations = c.rotations;
    const dropsBefore = c.dropBadTag + c.dropMalformed + c.dropReplay + c.dropStaleSession;
    const lastSlotBox = dp.lastSlot;
    let k = core.openList(slab, meta, from, to, out, now, lastSlotBox);
    const lastSlot = lastSlotBox[0] as number;
    // The first authenticated packet made a session current: the tunnel is established now.
    if (lastSlot >= 0 && this.device === undefined) {
      if (!this.establish()) return;
      stage = this.ingress;
    }
    const unicast = k > 0 && anyUnicast(slab, out, k);
    if (stage !== null && k > 0) k = this.admit(stage, slab, out, k, now);
    if (lastSlot >= 0) this.checkRoaming(lastSlot);
    if (core.ackDue) {
      // the responder's new session is current: tell the initiator at once (it waits for this)
      core.ackDue = false;
      this.sendKeepalive(now);
    }
    if (k > 0) {
      this.writeList(slab, out, k, now);
      // The kernel often answers inside the write (ICMP echo, TCP ACKs): send the answer
      // from this same wake-up instead of another trip through the event loop.
      if (dp.drainAfterWrite) this.drainTun();
      if (unicast) dp.noteActivity(now);
    }
    if (stage?.endBatch) stage.endBatch(now);
    if (c.rotations !== rotations) {
      this.reindex();
      this.opts.onRotation?.(this);
    }
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
  }

  /** Reads and sends what the kernel answered inside the TUN write (a JS call, not a callback from C). */
  private drainTun(): void {
    const port = this.tunPort;
    if (port === undefined) return;
    for (let n = port.readNow(false); n > 0; n = port.readNow(true)) this.onTunBatch(n);
  }

  private writeList(buf: Uint8Array, out: Int32Array, k: number, now: number): void {
    const dev = this.device;
    if (dev === undefined && this.opts.scratch === true) return;
    const written =
      dev === undefined ? 0 : native().tunWriteBatch(dev.fd, buf, out, 0, k, this.writeMode, this.tunStats);
    if (written < k) {
      this.core.counters.dropDeviceError += k - written;
      this.dp.ratelog.emit('warn', `${this.name}:tunwrite`, now, 'TUN write failed; packets dropped', {
        tun: this.name,
        dropped: k - written,
        errno: dev === undefined ? 'no device' : native().errnoName(native().lastErrno()),
      });
    }
  }

  /** An authenticated packet from a new address: follow the peer (like WireGuard). */
  private checkRoaming(slot: number): void {
    if (this.opts.scratch === true) return;
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

  /** The latency keeper's entry: a batch of n packets already in the shared TUN slab (scratch tunnels only). */
  exerciseSend(n: number): void {
    if (this.opts.scratch === true) this.onTunBatch(n);
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

  private fail(err: ScroogeError): void {
    if (this.closed) return;
    this.dp.log.error('tunnel I/O failed', { tun: this.name, reason: err.message });
    this.close();
    this.opts.onFailure?.(this, err);
  }

  /** The shared socket failed (called by TunnelSocket). */
  socketFailed(reason: string): void {
    this.fail(new DataplaneError('ERR_SOCKET', `${this.name}: ${reason}`));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.core.clear();
    this.reindex();
    this.socket.tunnels.delete(this);
    this.tunPort?.close();
    this.tunPort = undefined;
    this.dp.closed(this);
  }

  stats(): TunnelStats {
    const c = this.core.counters;
    const now = this.dp.now();
    const t = this.tunStats;
    const u = this.socket.readStats();
    return {
      name: this.name,
      ifindex: this.device?.ifindex ?? 0,
      established: this.device !== undefined,
      udpPort: this.udpPort,
      peer: this.peer ? formatSockaddr(this.peer) : null,
      gso: this.gso,
      gro: this.gro,
      offload: this.device?.offload ?? NO_OFFLOAD,
      fastPath: this.fast?.armed ?? false,
      counters: c.toRecord(),
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
        superPackets: t[PortStat.superReads] as number,
        offloadBad: t[PortStat.offloadBad] as number,
      },
      tunWrites: {
        superPackets: t[PortStat.groWrites] as number,
        merged: t[PortStat.groMerged] as number,
        badChecksum: t[PortStat.groBadChecksum] as number,
        errors: t[PortStat.writeErrors] as number,
      },
      udpReads: {
        wakeups: u.wakeups,
        datagrams: u.counters.rxDatagrams,
        errors: u.errors,
        truncated: u.truncated,
        groMessages: u.groMessages,
        overflow: u.overflow,
        unknownSession: u.counters.dropUnknownSession,
      },
    };
  }
}

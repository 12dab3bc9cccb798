/**
 * What the tunnels and sockets a Dataplane made use of it, and what a socket
 * sees of a tunnel: interfaces, so that dataplane.ts (which makes both),
 * endpoint.ts and tunnel.ts import each other in one direction only.
 */
import { performance } from 'node:perf_hooks';
import { MTU, NATIVE } from '../base/constants.js';
import type { CryptoBackend } from '../crypto/index.js';
import { type Logger, nullLogger, RateLimitedLog } from './log.js';
import { native } from './native.js';
import { HEADER_BYTES, TAG_BYTES, TUNNEL_OVERHEAD } from './packet.js';

/** The shared buffers' geometry and the parts every tunnel and socket use. */
export interface SharedOptions {
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
   * TUN offloads (default true): devices get a virtio-net header and TSO/USO,
   * super-packets are split before sealing and received segments coalesced
   * before writing. The wire does not change.
   */
  tunOffload?: boolean;
  /**
   * The native lone-packet path (default true): a wake-up that brings one packet of an
   * established tunnel without traffic control is handled in C (dataplane/native/express.c).
   * Off when the addon has no native AEAD, and with an injected clock (`now`).
   */
  fastPath?: boolean;
}

function align(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

/**
 * What the tunnels and sockets a Dataplane made use of it: the shared slabs
 * and batch geometry, the clock, the log, the latency keeper. Every batch runs
 * synchronously inside one addon callback, so one set of slabs serves all.
 */
export abstract class DataplaneContext {
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
  /** Shared by every socket: datagrams from recvmmsg, decrypted in place. */
  readonly udpSlab: Uint8Array;
  readonly udpMeta: Int32Array;
  readonly udpAddrs: Uint8Array;
  /** Send/write lists built from a batch: [offset, length] entries. */
  readonly out: Int32Array;
  readonly ratelog: RateLimitedLog;
  /** Out-parameter of TunnelCore.openList. */
  readonly lastSlot = new Int32Array(1);
  readonly drainAfterWrite: boolean;
  readonly tunOffload: boolean;
  /** Whether tunnels arm the native lone-packet path (fastPath, the native AEAD, the default clock). */
  readonly fastPath: boolean;
  /** Why the native lone-packet path is off ('' when on). */
  readonly fastPathOff: string;

  constructor(opts: SharedOptions) {
    this.drainAfterWrite = opts.drainAfterWrite ?? true;
    this.tunOffload = opts.tunOffload ?? true;
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
    // UDP GRO delivers up to 64 KiB per message
    this.udpSlot = this.wantGro ? NATIVE.groSlotBytes : align(this.maxMtu + TUNNEL_OVERHEAD + 64, 64);
    const n = native();
    const noAead = n.Express.available();
    this.fastPathOff =
      opts.fastPath === false
        ? 'turned off'
        : noAead !== null
          ? noAead
          : opts.now !== undefined
            ? 'an injected clock'
            : '';
    this.fastPath = this.fastPathOff === '';
    this.tunSlab = new Uint8Array(this.tunSlot * this.tunBatch);
    this.tunMeta = new Int32Array(this.tunBatch * n.META_STRIDE);
    const udpEntries = this.udpBatch * (this.wantGro ? 64 : 1);
    this.udpSlab = new Uint8Array(this.udpSlot * this.udpBatch);
    this.udpMeta = new Int32Array(udpEntries * n.META_STRIDE);
    this.udpAddrs = new Uint8Array(this.udpBatch * n.ADDR_STRIDE);
    this.out = new Int32Array(Math.max(this.tunBatch, udpEntries) * n.META_STRIDE);
    this.ratelog = new RateLimitedLog(this.log);
  }

  /** Data flowed: keep the latency keeper running. */
  abstract noteActivity(nowMs: number): void;
  /** A tunnel or socket it made has closed. */
  abstract closed(part: object): void;
}

/** A tunnel as its socket sees it: the datagrams of its sessions in a batch, and the socket's end. */
export interface SessionReceiver {
  receive(from: number, to: number, now: number): void;
  /** The socket failed for good: the tunnel fails with it. */
  socketFailed(reason: string): void;
  close(): void;
}

/**
 * What the tunnels and sockets a Dataplane made use of it, and what a socket
 * sees of a tunnel: interfaces, so that dataplane.ts (which makes both),
 * endpoint.ts and tunnel.ts import each other in one direction only.
 */
import type { CryptoBackend } from '../crypto/index.js';
import type { Logger, RateLimitedLog } from './log.js';

/** The shared slabs and batch geometry, the clock, the log and the latency keeper. */
export interface DataplaneContext {
  readonly backend: CryptoBackend;
  readonly log: Logger;
  readonly now: () => number;
  readonly wantGso: boolean;
  readonly wantGro: boolean;
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
  /** Out-list of a batch: [offset, length] entries. */
  readonly out: Int32Array;
  /** Out-parameter of TunnelCore.openList. */
  readonly lastSlot: Int32Array;
  readonly ratelog: RateLimitedLog;
  readonly drainAfterWrite: boolean;
  /** Data flowed: keep the latency keeper running. */
  noteActivity(nowMs: number): void;
  /** A tunnel or socket it made has closed. */
  closed(part: object): void;
}

/** A tunnel as its socket sees it: the datagrams of its sessions in a batch, and the socket's end. */
export interface SessionReceiver {
  receive(from: number, to: number, now: number): void;
  /** The socket failed for good: the tunnel fails with it. */
  socketFailed(reason: string): void;
  close(): void;
}

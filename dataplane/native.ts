/**
 * The native addon (dataplane/native/scrooge.c), loaded once, with types.
 *
 * Setup calls throw an Error with code/errno/syscall, which `nativeError`
 * turns into a ScroogeError. Data-path calls never throw: they return counts
 * (and `lastErrno()` says why a count fell short).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ErrorCode, ScroogeError } from '../crypto/index.js';

export const KIND_TUN = 0;
export const KIND_UDP = 1;

/** Slots of a Port's stats Float64Array (keep in sync with scrooge.c). */
export const PortStat = {
  wakeups: 0,
  readPackets: 1,
  readBytes: 2,
  readErrors: 3,
  truncated: 4,
  fullBatches: 5,
  groMessages: 6,
} as const;

export interface NativePort {
  start(): void;
  stop(): void;
  /** Reads one batch now (non-blocking); calls the callback synchronously if there was one. */
  pollNow(): number;
  /** Stops polling and closes the fd (after libuv releases it). */
  close(): void;
}

export interface UdpOpenOptions {
  family: 4 | 6;
  /** Bind address bytes (4 or 16); any address when omitted. */
  address?: Uint8Array;
  port: number;
  scopeId?: number;
  v6only?: boolean;
  /** Report the receiving interface of each datagram (IPV6_PKTINFO/IP_PKTINFO). */
  pktinfo?: boolean;
  /** Ask for UDP GRO (coalesced receive). */
  gro?: boolean;
  rcvbuf?: number;
  sndbuf?: number;
  /** SO_BINDTODEVICE. */
  device?: string;
  mcastLoop?: boolean;
}

export interface NativeApi {
  Port: new (
    kind: number,
    fd: number,
    slab: Uint8Array,
    meta: Int32Array,
    stats: Float64Array,
    addrs: Uint8Array | null,
    slotSize: number,
    headroom: number,
    tailroom: number,
    maxBatch: number,
    onBatch: (count: number) => void,
  ) => NativePort;
  tunOpen(name: string, multiQueue: boolean): { fd: number; name: string };
  tunWriteBatch(fd: number, buf: Uint8Array, meta: Int32Array, start: number, count: number): number;
  udpOpen(options: UdpOpenOptions): { fd: number; port: number; gso: boolean; gro: boolean };
  udpSetGro(fd: number, on: boolean): boolean;
  udpJoinGroup(fd: number, group: Uint8Array, ifindex: number, join: boolean): void;
  udpSendTo(fd: number, buf: Uint8Array, offset: number, length: number, sockaddr: Uint8Array): number;
  udpSendBatch(
    fd: number,
    buf: Uint8Array,
    meta: Int32Array,
    start: number,
    count: number,
    sockaddr: Uint8Array,
    gso: boolean,
  ): number;
  linkSetMtu(name: string, mtu: number): void;
  linkSetTxQueueLen(name: string, qlen: number): void;
  linkSetUp(name: string, up: boolean): void;
  linkIndex(name: string): number;
  addrChange(ifindex: number, address: Uint8Array, prefixLen: number, add: boolean): void;
  closeFd(fd: number): void;
  lastErrno(): number;
  errnoName(errno: number): string;
  readonly STATS_SLOTS: number;
  readonly META_STRIDE: number;
  readonly ADDR_STRIDE: number;
}

let api: NativeApi | undefined;

function addonPath(): string {
  // dist/dataplane/native.js → <root>/build/Release/scrooge_native.node
  const here = dirname(fileURLToPath(import.meta.url));
  for (const up of ['../..', '..']) {
    const p = resolve(here, up, 'build/Release/scrooge_native.node');
    if (existsSync(p)) return p;
  }
  return resolve(here, '../../build/Release/scrooge_native.node');
}

/** The addon; throws ERR_NATIVE with the fix when it is not built. */
export function native(): NativeApi {
  if (api) return api;
  const path = addonPath();
  try {
    api = createRequire(import.meta.url)(path) as NativeApi;
  } catch (e) {
    throw new ScroogeError(
      'ERR_NATIVE',
      `native addon ${join('build/Release', 'scrooge_native.node')} cannot load (${(e as Error).message.split('\n')[0]}); ` +
        'build it with `npm run build:native` (needs python3, make, g++)',
      { cause: e },
    );
  }
  return api;
}

/** Turns an addon setup error into a ScroogeError. */
export function nativeError(code: ErrorCode, what: string, e: unknown): ScroogeError {
  const err = e as Error & { code?: string; errno?: number };
  let hint = '';
  if (err.code === 'EPERM' || err.code === 'EACCES') hint = ' (needs root or CAP_NET_ADMIN)';
  else if (err.code === 'ENOENT' && /\/dev\/net\/tun/.test(err.message))
    hint = ' (is the tun module loaded? modprobe tun)';
  else if (err.code === 'EBUSY') hint = ' (the device is in use by another process)';
  return new ScroogeError(code, `${what}: ${err.message}${hint}`, {
    cause: e,
    detail: err.code ? { errno: err.code } : {},
  });
}

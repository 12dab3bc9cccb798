/**
 * The native addon (dataplane/native/*.c), loaded once, with types.
 *
 * Setup calls throw an Error with code/errno/syscall, which `nativeError`
 * turns into a ScroogeError. Data-path calls never throw: they return counts
 * (and `lastErrno()` says why a count fell short).
 */
import { DataplaneError, type DataplaneErrorCode } from './errors.js';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const KIND_TUN = 0 as const;
export const KIND_UDP = 1 as const;
/** An rtnetlink socket, read like a TUN device (one message batch per slot). */
export const KIND_NETLINK = 2 as const;

/** Slots of a Port's stats Float64Array (keep in sync with scrooge.c). */
export const PortStat = {
  wakeups: 0,
  readPackets: 1,
  readBytes: 2,
  readErrors: 3,
  truncated: 4,
  fullBatches: 5,
  groMessages: 6,
  /** Datagrams (or GRO segments) dropped because a batch's meta array was full. */
  overflow: 7,
  /** Netlink messages not from the kernel (another process's unicast), dropped. */
  foreign: 8,
  /** TUN with offloads: reads that carried a GSO super-packet (split into MTU-sized packets). */
  superReads: 9,
  /** TUN with offloads: reads dropped because the virtio header and the packet did not add up. */
  offloadBad: 10,
  /** tunWriteBatch: super-packets written (two or more packets coalesced). */
  groWrites: 11,
  /** tunWriteBatch: packets that went out inside a super-packet. */
  groMerged: 12,
  /** tunWriteBatch: coalescing candidates written alone because a checksum did not verify. */
  groBadChecksum: 13,
  /** tunWriteBatch: failed write()/writev() calls. */
  writeErrors: 14,
} as const;

/** tunWriteBatch modes: plain packets; a virtio header with TCP coalescing; and UDP coalescing too. */
export const TunWrite = { plain: 0, vnet: 1, vnetUdp: 3 } as const;
export type TunWriteMode = (typeof TunWrite)[keyof typeof TunWrite];

/** A Port: an fd polled by libuv that reads batches into JS-owned arrays. */
export interface PortOptions {
  kind: typeof KIND_TUN | typeof KIND_UDP | typeof KIND_NETLINK;
  fd: number;
  /** maxBatch slots of slotSize bytes. */
  slab: Uint8Array;
  /** META_STRIDE int32 per entry: [offset, length, ifindex, addrSlot]. */
  meta: Int32Array;
  /** STATS_SLOTS counters (PortStat). */
  stats: Float64Array;
  /** UDP: the source sockaddr of each message (ADDR_STRIDE bytes each), or null. */
  addrs: Uint8Array | null;
  slotSize: number;
  /** Bytes left free before each packet (TUN: room for the tunnel header to be sealed in place). */
  headroom: number;
  /** Bytes left free after each packet (TUN: room for the tag). */
  tailroom: number;
  maxBatch: number;
  /** TUN opened with a virtio-net header (tunOpen's vnetHdr): reads are split into MTU-sized packets. */
  vnet?: boolean;
}

export interface NativePort {
  /** Starts (or resumes) polling; a no-op while polling. */
  start(): void;
  /** Stops polling until start(); the fd stays open and what arrives waits in the kernel. */
  stop(): void;
  /** Reads one batch now (non-blocking); calls the callback synchronously if there was one. */
  pollNow(): number;
  /**
   * Reads one batch now without calling back (the caller handles it); `more`: only the rest of a
   * super-packet the last batch could not hold. Returns the count (0: nothing, or an error the
   * next readiness reports).
   */
  readNow(more: boolean): number;
  /** Stops polling and closes the fd (after libuv releases it). */
  close(): void;
}

/** What Express.arm needs of a tunnel's current session (see dataplane/native/express.c). */
export interface ExpressSession {
  id: number;
  sendKey: Uint8Array;
  recvKey: Uint8Array;
  /** Session.tx: [next send counter], counted on in place. */
  sendCounter: Float64Array;
  /** The session's ReplayWindow arrays and width. */
  replayMark: Float64Array;
  replayRing: Uint32Array;
  replayWindow: number;
  /** The session may not be used at or after this time (dp.now() ms), nor beyond sendLimit messages. */
  expiresMs: number;
  sendLimit: number;
  /** The peer's encoded sockaddr: datagrams from elsewhere are left to JS (roaming). */
  peer: Uint8Array;
  /** dp.now() minus the addon's monotonic clock (uv_hrtime) in ms. */
  clockOffsetMs: number;
  /** Directions the native path may take (false where traffic control has a stage). */
  rx: boolean;
  tx: boolean;
  /** Read the TUN right after a write (the kernel's answer leaves in the same wake-up). */
  drain: boolean;
}

/**
 * A tunnel's native lone-packet path: while armed, a wake-up that brings one packet of the
 * tunnel is handled in C with the tunnel's shared state (counters: TunnelCounters.slots).
 */
export interface NativeExpress {
  arm(udp: NativePort, tun: NativePort, session: ExpressSession): void;
  disarm(): void;
  readonly armed: boolean;
}

export interface ExpressClass {
  new (counters: Float64Array): NativeExpress;
  /** null when the native AEAD works here, else why not. */
  available(): string | null;
  /** The native AEAD in place (tests cross-check it with libsodium): seal writes tag; open checks it. */
  aead(seal: boolean, key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, data: Uint8Array, tag: Uint8Array): boolean;
  /**
   * Configures the native latency keeper (a 1 ms timer that keeps the CPU and the AEAD warm
   * while lone packets flow); returns its scratch passes so far. intervalMs 0: off.
   */
  keeper(intervalMs: number, holdMs: number): number;
  /** Test entry: the native replay check (and accept) on a ReplayWindow's arrays. */
  replay(mark: Float64Array, ring: Uint32Array, window: number, counter: number, accept: boolean): boolean;
  /** The shared counter slots, in the addon's order. */
  readonly SLOTS: readonly string[];
  /** The OpenSSL version the AEAD comes from ('' when unavailable). */
  readonly AEAD: string;
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
  Port: new (options: PortOptions, onBatch: (count: number) => void) => NativePort;
  Express: ExpressClass;
  /** Opens (creates) a TUN device; with offload, a virtio-net header and TSO/USO where the kernel has them. */
  tunOpen(
    name: string,
    multiQueue: boolean,
    offload: boolean,
  ): { fd: number; name: string; vnetHdr: boolean; tso: boolean; uso: boolean };
  /** Writes meta[start, start+count) to a TUN fd (coalescing runs when mode has a virtio header). */
  tunWriteBatch(
    fd: number,
    buf: Uint8Array,
    meta: Int32Array,
    start: number,
    count: number,
    mode: TunWriteMode,
    stats: Float64Array,
  ): number;
  /** Test entry: splits one virtio header + packet into slots; segments or a negative reason. */
  tunSegment(
    input: Uint8Array,
    length: number,
    slab: Uint8Array,
    meta: Int32Array,
    slotSize: number,
    headroom: number,
    tailroom: number,
  ): number;
  /** Test entry: what tunWriteBatch would write for meta[start, start+count), item by item. */
  tunCoalesce(
    buf: Uint8Array,
    meta: Int32Array,
    start: number,
    count: number,
    udp: boolean,
    out: Uint8Array,
    outMeta: Int32Array,
  ): number;
  udpOpen(options: UdpOpenOptions): { fd: number; port: number; gso: boolean; gro: boolean };
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
  linkSetUp(name: string, up: boolean): void;
  linkIndex(name: string): number;
  addrChange(ifindex: number, address: Uint8Array, prefixLen: number, add: boolean): void;
  closeFd(fd: number): void;
  /** What the kernel accepts on a TUN device with a virtio-net header (throws if TUN cannot be opened). */
  tunProbeOffload(): { vnetHdr: boolean; csum: boolean; tso: boolean; uso: boolean };
  /** A non-blocking rtnetlink socket subscribed to link and address notifications. */
  netlinkSubscribe(rcvbuf: number): number;
  lastErrno(): number;
  errnoName(errno: number): string;
  readonly STATS_SLOTS: number;
  readonly META_STRIDE: number;
  readonly ADDR_STRIDE: number;
  readonly VNET_HDR_LEN: number;
}

let api: NativeApi | undefined;
let loadedFrom: string | undefined;

/** The package root (dist/dataplane/native.js → ../..). */
function packageRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const up of ['../..', '..']) {
    const p = resolve(here, up);
    if (existsSync(join(p, 'package.json'))) return p;
  }
  return resolve(here, '../..');
}

/** node-gyp-build's resolver: build/Release first (a source build), then prebuilds/<platform>-<arch>/. */
function addonPath(): string {
  const resolver = createRequire(import.meta.url)('node-gyp-build') as { resolve(dir: string): string };
  return resolver.resolve(packageRoot());
}

/** The addon; throws ERR_NATIVE with the fix when no build loads. */
export function native(): NativeApi {
  if (api) return api;
  let path: string | undefined;
  try {
    path = addonPath();
    api = createRequire(import.meta.url)(path) as NativeApi;
    loadedFrom = path;
  } catch (e) {
    throw new DataplaneError(
      'ERR_NATIVE',
      `the native addon cannot load (${(e as Error).message.split('\n')[0]}); ` +
        'rebuild it from source with `npm run build:native` (needs python3, make and a C compiler)',
      { cause: e, detail: path ? { path } : {} },
    );
  }
  return api;
}

/** Where the loaded addon came from (after native() succeeded). */
export function addonInfo(): { path: string; prebuilt: boolean } | undefined {
  if (loadedFrom === undefined) return undefined;
  return { path: loadedFrom, prebuilt: loadedFrom.includes(`${sep}prebuilds${sep}`) };
}

/** Turns an addon setup error into a DataplaneError. */
export function nativeError(code: DataplaneErrorCode, what: string, e: unknown): DataplaneError {
  const err = e as Error & { code?: string; errno?: number };
  let hint = '';
  if (err.code === 'EPERM' || err.code === 'EACCES') hint = ' (needs root or CAP_NET_ADMIN)';
  else if (err.code === 'ENOENT' && /\/dev\/net\/tun/.test(err.message))
    hint = ' (is the tun module loaded? modprobe tun)';
  else if (err.code === 'EBUSY') hint = ' (the device is in use by another process)';
  return new DataplaneError(code, `${what}: ${err.message}${hint}`, {
    cause: e,
    detail: err.code ? { errno: err.code } : {},
  });
}

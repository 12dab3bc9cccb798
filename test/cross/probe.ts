/**
 * The addon's kernel-facing paths on the machine this runs on (run by
 * test/cross/matrix.ts under qemu-user for arm64, armv7 and big-endian s390x,
 * as root inside a fresh network namespace). One JSON line per check:
 * {"check": name, "status": "ok" | "fail" | "skip", "detail": string}.
 *
 * What it covers: which addon loaded (prebuilt?), sockaddr_in6/sockaddr_in
 * decoding (family in host order, port in network order) of received
 * datagrams, IPV6_PKTINFO/IP_PKTINFO, a UDP GSO send received with GRO (the
 * UDP_GRO cmsg is an int), a TUN device opened, configured over rtnetlink
 * (MTU, address) and brought up, and the TUN offload probe.
 */
import { readFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { openTunDevice } from '../../dataplane/link.js';
import { addonInfo, KIND_UDP, native, type NativeApi } from '../../dataplane/native.js';
import { decodeSockaddr, encodeSockaddr, formatSockaddr, parseIPv4, parseIPv6 } from '../../dataplane/sockaddr.js';

const META = 4;

/**
 * Set by the matrix for big-endian guests: qemu-user 7.2 copies IP(V6)_PKTINFO,
 * UDP_GRO and UDP_SEGMENT control messages raw between a big-endian guest and
 * a little-endian host ("Unsupported ancillary data 41/50, 0/8, 17/103" with
 * -d unimp), so values from them are wrong under emulation only. They are
 * tested by test/native/cmsg_test.c on the same architecture instead.
 */
const UNTRUSTED_CMSG = process.env.SCROOGE_PROBE_UNTRUSTED_CMSG === '1';
const CMSG_REASON = 'not checked: qemu-user passes this control message unconverted across endianness (see cmsg_test)';

function report(check: string, status: 'ok' | 'fail' | 'skip', detail: string): void {
  process.stdout.write(`${JSON.stringify({ check, status, detail })}\n`);
}

/** Runs a check; a returned string is its detail, a thrown error its failure. */
/**
 * The native lone-packet path's AEAD (OpenSSL from this Node binary): available, and a seal
 * opens to the plaintext while a flipped bit does not (the RFC 8439 known-answer test ran at load).
 */
function fastPathAead(n: NativeApi): string {
  const why = n.Express.available();
  if (why !== null) throw new Error(`unavailable: ${why}`);
  const key = new Uint8Array(32).fill(0x42);
  const nonce = new Uint8Array(12).fill(7);
  const ad = new Uint8Array(16).fill(1);
  const plain = Uint8Array.from({ length: 100 }, (_, i) => i);
  const data = Uint8Array.from(plain);
  const tag = new Uint8Array(16);
  n.Express.aead(true, key, nonce, ad, data, tag);
  const forged = Uint8Array.from(data);
  forged[3] = (forged[3] as number) ^ 1;
  if (n.Express.aead(false, key, nonce, ad, forged, Uint8Array.from(tag))) throw new Error('a forgery opened');
  if (!n.Express.aead(false, key, nonce, ad, data, tag) || data.some((b, i) => b !== plain[i]))
    throw new Error('a seal did not open to its plaintext');
  return `ChaCha20-Poly1305 from ${n.Express.AEAD}: seal, open, forgery refused`;
}

function attempt(check: string, fn: () => string): void {
  try {
    report(check, 'ok', fn());
  } catch (e) {
    report(check, 'fail', (e as Error).message.split('\n')[0] ?? String(e));
  }
}

/**
 * Receives one batch on `fd` through a real Port (which then closes the fd);
 * returns [offset, length, ifindex, addrSlot] per entry. Loopback delivery
 * runs in softirq, so it polls for up to a second.
 */
function receive(n: NativeApi, fd: number, slab: Uint8Array, addrs: Uint8Array, slots: number): number[][] {
  const meta = new Int32Array(slots * 64 * META);
  const stats = new Float64Array(n.STATS_SLOTS);
  let got: number[][] = [];
  const opts = {
    kind: KIND_UDP,
    fd,
    slab,
    meta,
    stats,
    addrs,
    slotSize: slab.length / slots,
    headroom: 0,
    tailroom: 0,
  };
  const port = new n.Port({ ...opts, maxBatch: slots }, (count) => {
    got = [];
    for (let i = 0; i < count; i++) got.push([...meta.subarray(i * META, i * META + META)]);
  });
  port.start();
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let i = 0; i < 1000 && port.pollNow() === 0; i++) Atomics.wait(pause, 0, 0, 1);
  port.close();
  return got;
}

function udpRoundTrip(n: NativeApi, family: 4 | 6): string {
  const loop = family === 6 ? parseIPv6('::1') : parseIPv4('127.0.0.1');
  if (!loop) throw new Error('loopback address');
  const rx = n.udpOpen({ family, address: loop, port: 0, pktinfo: true });
  const tx = n.udpOpen({ family, address: loop, port: 0 });
  try {
    const payload = new TextEncoder().encode(`scrooge ${family}`);
    const dest = encodeSockaddr({ family, address: loop, port: rx.port, scopeId: 0 });
    const sent = n.udpSendTo(tx.fd, payload, 0, payload.length, dest);
    if (sent < 0) throw new Error(`send failed: ${n.errnoName(sent)}`);
    const slab = new Uint8Array(2048 * 4);
    const addrs = new Uint8Array(4 * n.ADDR_STRIDE);
    const got = receive(n, rx.fd, slab, addrs, 4);
    const e = got[0];
    if (got.length !== 1 || e === undefined) throw new Error(`expected 1 datagram, got ${got.length}`);
    const [off, len, ifindex, slot] = e as [number, number, number, number];
    const text = new TextDecoder().decode(slab.subarray(off, off + len));
    if (text !== `scrooge ${family}`) throw new Error(`payload ${JSON.stringify(text)}`);
    const from = decodeSockaddr(addrs, slot * n.ADDR_STRIDE);
    if (!from || from.family !== family || from.port !== tx.port)
      throw new Error(`source decoded as ${from ? formatSockaddr(from) : 'nothing'}, sent from port ${tx.port}`);
    if (UNTRUSTED_CMSG) return `from ${formatSockaddr(from)}; pktinfo ${CMSG_REASON}`;
    if (ifindex !== 1) throw new Error(`pktinfo ifindex ${ifindex}, expected 1 (lo)`);
    return `from ${formatSockaddr(from)}, pktinfo ifindex ${ifindex}`;
  } finally {
    n.closeFd(tx.fd); // rx's fd was closed with its Port
  }
}

function gsoToGro(n: NativeApi): string {
  const loop = parseIPv6('::1') as Uint8Array;
  const rx = n.udpOpen({ family: 6, address: loop, port: 0, gro: true });
  const tx = n.udpOpen({ family: 6, address: loop, port: 0 });
  try {
    if (!tx.gso || !rx.gro) throw new Error(`GSO ${tx.gso}, GRO ${rx.gro}: this kernel (>= 5.0) should have both`);
    const seg = 1200;
    const count = 8;
    const buf = new Uint8Array(seg * count);
    for (let i = 0; i < count; i++) buf.fill(i + 1, i * seg, (i + 1) * seg);
    const meta = new Int32Array(count * META);
    for (let i = 0; i < count; i++) {
      meta[i * META] = i * seg;
      meta[i * META + 1] = seg;
    }
    const dest = encodeSockaddr({ family: 6, address: loop, port: rx.port, scopeId: 0 });
    const sent = n.udpSendBatch(tx.fd, buf, meta, 0, count, dest, true);
    if (sent !== count) throw new Error(`sent ${sent} of ${count} (${n.errnoName(n.lastErrno())})`);
    const slab = new Uint8Array(65536 * 4);
    const addrs = new Uint8Array(4 * n.ADDR_STRIDE);
    const got = receive(n, rx.fd, slab, addrs, 4);
    if (got.length !== count) throw new Error(`received ${got.length} segments, expected ${count}`);
    got.forEach(([off, len], i) => {
      if (len !== seg) throw new Error(`segment ${i}: length ${len}, expected ${seg}`);
      if (slab[off as number] !== i + 1) throw new Error(`segment ${i}: wrong content`);
    });
    return `${count} × ${seg} B sent as one GSO message, received as ${count} segments`;
  } finally {
    n.closeFd(tx.fd); // rx's fd is closed by its Port
  }
}

function tunDevice(n: NativeApi): string {
  const name = `scrx${process.pid % 100000}`;
  const address = parseIPv6('fd99::1') as Uint8Array;
  const dev = openTunDevice(name, 1400, [{ family: 6, address, prefixLen: 64 }]);
  try {
    const mtu = readFileSync(`/sys/class/net/${name}/mtu`, 'utf8').trim();
    const flags = Number.parseInt(readFileSync(`/sys/class/net/${name}/flags`, 'utf8').trim(), 16);
    const inet6 = readFileSync('/proc/net/if_inet6', 'utf8');
    if (mtu !== '1400') throw new Error(`MTU ${mtu}, expected 1400 (SIOCSIFMTU)`);
    if ((flags & 1) === 0) throw new Error('link not up (SIOCSIFFLAGS)');
    if (!inet6.split('\n').some((l) => l.startsWith('fd990000000000000000000000000001') && l.endsWith(name)))
      throw new Error('fd99::1 not on the device (rtnetlink RTM_NEWADDR)');
    return `${dev.name} ifindex ${dev.ifindex}: MTU 1400, up, fd99::1/64`;
  } finally {
    n.closeFd(dev.fd);
  }
}

const n = native();
const info = addonInfo();
report(
  'addon',
  info?.prebuilt === true ? 'ok' : 'fail',
  `${process.arch} ${endianness()} node ${process.version}: ${info ? info.path : 'not loaded'}`,
);
attempt('udp-ipv6', () => udpRoundTrip(n, 6));
attempt('udp-ipv4', () => udpRoundTrip(n, 4));
if (UNTRUSTED_CMSG) report('gso-gro', 'skip', `UDP_SEGMENT/UDP_GRO ${CMSG_REASON}`);
else attempt('gso-gro', () => gsoToGro(n));
attempt('tun', () => tunDevice(n));
attempt('tun-offload-probe', () => JSON.stringify(n.tunProbeOffload()));
attempt('fast-path', () => fastPathAead(n));

/**
 * The attacker of bench/hostile: sends `total` mixed hostile datagrams at
 * `rate` per second from `sources` (link-local addresses on `iface`) to a
 * node's control port and tunnel port, and prints one JSON line with what it
 * sent per kind. Run inside the attacker's namespace.
 *
 * argv[2]: JSON { iface, sources, node, controlPort, tunnelPort, nodeKey,
 *                 capturedControl: hex[], capturedTunnel: hex[], total, rate, decoy? }
 * decoy: the same datagrams at the same rate to the attacker's own loopback
 * (its CPU load without the attack), for the baseline.
 *
 * Kinds (fractions of the total):
 *   control  random 20 %, truncated 10 %, mutated 15 %, replayed 10 %, forged-valid (fresh keys) 5 %
 *   tunnel   random 15 %, forged (real session id, random counter and body) 10 %,
 *            replayed or mutated captured datagrams 10 %, truncated 5 %
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { fromBase64Exact, identityFromSeed, selectBackend } from '../crypto/index.js';
import { BROADCAST_KEY, encodeControlMessage } from '../src/control/messages.js';

interface Config {
  iface: string;
  sources: string[];
  node: string;
  controlPort: number;
  tunnelPort: number;
  nodeKey: string;
  capturedControl: string[];
  capturedTunnel: string[];
  total: number;
  rate: number;
  decoy?: boolean;
}

const cfg = JSON.parse(process.argv[2] ?? '{}') as Config;
const backend = selectBackend('auto').backend;
const nodeKey = fromBase64Exact(cfg.nodeKey, 32);
const to = cfg.decoy ? '::1' : `${cfg.node}%${cfg.iface}`;

const sockets: Socket[] = [];
for (const src of cfg.decoy ? ['::1'] : cfg.sources) {
  const s = createSocket({ type: 'udp6' });
  s.on('error', () => undefined);
  s.on('message', () => undefined);
  await new Promise<void>((resolve) => s.bind({ address: cfg.decoy ? src : `${src}%${cfg.iface}`, port: 0 }, resolve));
  sockets.push(s);
}
// the decoy's datagrams land in a socket that drops them (as the node's would): no ICMP
if (cfg.decoy) {
  const sink = sockets[0] as Socket;
  cfg.controlPort = sink.address().port;
  cfg.tunnelPort = sink.address().port;
}

const capturedControl = cfg.capturedControl.map((h) => Buffer.from(h, 'hex'));
const capturedTunnel = cfg.capturedTunnel.map((h) => Buffer.from(h, 'hex'));
// valid messages from fresh keys: hellos and scrooge_tunnel addressed to the node (signed ahead of time)
let seq = BigInt(Date.now()) * 1000n;
const forged: Buffer[] = [];
for (let i = 0; i < 2000; i++) {
  const id = identityFromSeed(backend, new Uint8Array(randomBytes(32)));
  const tunnelPK = new Uint8Array(randomBytes(32));
  const fields =
    i % 2 === 0
      ? { type: 'scrooge_hello' as const, dstPK: BROADCAST_KEY, seq: seq++ }
      : {
          type: 'scrooge_tunnel' as const,
          dstPK: nodeKey,
          seq: seq++,
          tunnelPK,
          endpoint: { host: 'fe80::1', port: 40000, family: 6 as const },
        };
  forged.push(Buffer.from(encodeControlMessage(fields, id), 'latin1'));
}
const validPool = [...capturedControl, ...forged];
const sessionIds = capturedTunnel.filter((d) => d.length >= 8).map((d) => d.readUInt32LE(4));

const pick = <T>(xs: T[], i: number): T => xs[i % xs.length] as T;
const rnd = (n: number) => randomBytes(n);
const mutate = (b: Buffer): Buffer => {
  const c = Buffer.from(b);
  const bit = Math.floor(Math.random() * c.length * 8);
  c[bit >> 3] = (c[bit >> 3] as number) ^ (1 << (bit & 7));
  return c;
};

type Kind = { name: string; share: number; port: 'control' | 'tunnel'; make: (i: number) => Buffer };
const kinds: Kind[] = [
  { name: 'control random', share: 0.2, port: 'control', make: () => rnd(1 + Math.floor(Math.random() * 600)) },
  {
    name: 'control truncated',
    share: 0.1,
    port: 'control',
    make: (i) => {
      const m = pick(validPool, i);
      return m.subarray(0, Math.floor(Math.random() * m.length));
    },
  },
  { name: 'control mutated', share: 0.15, port: 'control', make: (i) => mutate(pick(validPool, i)) },
  {
    name: 'control replayed',
    share: 0.1,
    port: 'control',
    make: (i) => pick(capturedControl.length > 0 ? capturedControl : forged, i),
  },
  { name: 'control forged-valid (fresh keys)', share: 0.05, port: 'control', make: (i) => pick(forged, i) },
  { name: 'tunnel random', share: 0.15, port: 'tunnel', make: () => rnd(1 + Math.floor(Math.random() * 1400)) },
  {
    name: 'tunnel forged (real session id)',
    share: 0.1,
    port: 'tunnel',
    make: (i) => {
      const b = rnd(32 + Math.floor(Math.random() * 1400));
      b[0] = 1;
      b[1] = 0;
      b[2] = 0;
      b[3] = 0;
      b.writeUInt32LE(sessionIds.length > 0 ? pick(sessionIds, i) : 0, 4);
      b.writeUInt32LE(0, 12); // a counter below 2^53: the replay window and the AEAD decide
      return b;
    },
  },
  {
    name: 'tunnel replayed/mutated',
    share: 0.1,
    port: 'tunnel',
    make: (i) => {
      const d = capturedTunnel.length > 0 ? pick(capturedTunnel, i) : rnd(64);
      return i % 2 === 0 ? d : mutate(d);
    },
  },
  {
    name: 'tunnel truncated',
    share: 0.05,
    port: 'tunnel',
    make: (i) => {
      const d = capturedTunnel.length > 0 ? pick(capturedTunnel, i) : rnd(64);
      return d.subarray(0, Math.floor(Math.random() * 32));
    },
  },
];
const cumulative: number[] = [];
kinds.reduce((acc, k) => {
  cumulative.push(acc + k.share);
  return acc + k.share;
}, 0);
const counts: Record<string, number> = Object.fromEntries(kinds.map((k) => [k.name, 0]));

const started = Date.now();
let sent = 0;
let bytes = 0;
let inflight = 0;
while (sent < cfg.total) {
  // pace: never ahead of rate × elapsed
  const due = Math.min(cfg.total, Math.floor(((Date.now() - started) / 1000) * cfg.rate) + 200);
  if (sent >= due || inflight > 2000) {
    await new Promise((r) => setTimeout(r, 1));
    continue;
  }
  for (; sent < due; sent++) {
    const u = Math.random();
    const found = cumulative.findIndex((c) => u < c);
    const k: Kind = kinds[found < 0 ? kinds.length - 1 : found] as Kind;
    const b = k.make(sent);
    counts[k.name] = (counts[k.name] ?? 0) + 1;
    bytes += b.length;
    inflight++;
    pick(sockets, sent).send(b, k.port === 'control' ? cfg.controlPort : cfg.tunnelPort, to, () => inflight--);
  }
}
while (inflight > 0) await new Promise((r) => setTimeout(r, 5));
const seconds = (Date.now() - started) / 1000;
for (const s of sockets) s.close();
process.stdout.write(`${JSON.stringify({ sent, bytes, seconds, perSecond: sent / seconds, counts })}\n`);

/**
 * The TUN offload code (dataplane/native/offload.c) through the addon's test
 * entries, against the TypeScript reference in helpers/packets.ts: the
 * segmenter (super-packets from the kernel → MTU-sized packets) and the
 * coalescer (received packets → super-packets for the kernel), their
 * round trip, their rules, and a fuzz of both with hostile headers.
 */
import test from 'ava';
import { native } from '../dataplane/native.js';
import { prng } from '../tools/prng.js';
import {
  bytes,
  checksumsOk,
  decodeVnet,
  encodeVnet,
  finishChecksum,
  type Flow,
  flow,
  get16,
  get32,
  packet,
  superPacket,
  TCP,
  VNET,
} from '../tools/packets.js';

const n = native();
const HEAD = 16;
const TAIL = 16;
const MTU = 1420;
const SLOT = 1472;
const SLOTS = 256;
const slab = new Uint8Array(SLOT * SLOTS);
const meta = new Int32Array(SLOTS * 4);

function segment(input: Uint8Array, slotSize = SLOT): Uint8Array[] | number {
  const k = n.tunSegment(input, input.length, slab, meta, slotSize, HEAD, TAIL);
  if (k < 0) return k;
  const out: Uint8Array[] = [];
  for (let i = 0; i < k; i++) out.push(slab.slice(meta[i * 4], (meta[i * 4] as number) + (meta[i * 4 + 1] as number)));
  return out;
}

interface Item {
  bytes: Uint8Array;
  members: number;
}

function coalesce(pkts: Uint8Array[], udp = true): Item[] {
  const buf = new Uint8Array(pkts.reduce((a, p) => a + p.length + 64, 0) + 64);
  const m = new Int32Array(pkts.length * 4);
  let at = 32;
  pkts.forEach((p, i) => {
    buf.set(p, at);
    m[i * 4] = at;
    m[i * 4 + 1] = p.length;
    at += p.length + 64;
  });
  const out = new Uint8Array(buf.length + pkts.length * 140);
  const om = new Int32Array(pkts.length * 4 + 4);
  const k = n.tunCoalesce(buf, m, 0, pkts.length, udp, out, om);
  const items: Item[] = [];
  for (let i = 0; i < k; i++)
    items.push({
      bytes: out.slice(om[i * 4], (om[i * 4] as number) + (om[i * 4 + 1] as number)),
      members: om[i * 4 + 2] as number,
    });
  return items;
}

function payloadOf(p: Uint8Array): Uint8Array {
  const l4 = (p[0] as number) >> 4 === 6 ? 40 : ((p[0] as number) & 15) * 4;
  const tcp = ((p[0] as number) >> 4 === 6 ? p[6] : p[9]) === 6;
  return p.subarray(l4 + (tcp ? ((p[l4 + 12] as number) >> 4) * 4 : 8));
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The segments a sender's kernel would have made: consecutive seq and ids, PSH on the last. */
function stream(f: Flow, total: number, mss: number, seed = 1, first = 1000): Uint8Array[] {
  const data = bytes(total, seed);
  const out: Uint8Array[] = [];
  for (let at = 0, i = 0; at < total; at += mss, i++) {
    const last = at + mss >= total;
    out.push(
      packet(f, data.subarray(at, Math.min(total, at + mss)), {
        seq: first + at,
        id: 100 + i,
        flags: TCP.ACK | (last ? TCP.PSH : 0),
      }),
    );
  }
  return out;
}

const KINDS: [string, Flow, number][] = [
  ['TCP/IPv4', flow(false, true), MTU - 40],
  ['TCP/IPv6', flow(true, true), MTU - 60],
  ['UDP/IPv4', flow(false, false), MTU - 28],
  ['UDP/IPv6', flow(true, false), MTU - 48],
];

for (const [name, f, mss] of KINDS) {
  test(`segmenter: a ${name} super-packet becomes MTU-sized packets with valid checksums`, (t) => {
    for (const size of [
      1,
      mss - 1,
      mss,
      mss + 1,
      5000,
      65535 - (f.v6 ? 40 : 20) - (f.tcp ? 20 : 8) - (f.v6 ? 40 : 0),
    ]) {
      const data = bytes(size, size);
      const sp = superPacket(f, data, mss, { seq: 0xfffff000, id: 0xfffe, flags: TCP.ACK | TCP.PSH | TCP.CWR });
      const segs = segment(sp);
      if (typeof segs === 'number') return t.fail(`size ${size}: dropped (${segs})`);
      t.is(segs.length, Math.ceil(size / mss), `size ${size}`);
      segs.forEach((s, i) => {
        t.true(s.length <= MTU, `segment ${i} fits the MTU`);
        t.true(checksumsOk(s), `size ${size} segment ${i}: checksums`);
        if (!f.v6) {
          t.is(get16(s, 2), s.length);
          t.is(get16(s, 4), (0xfffe + i) & 0xffff, 'IPv4 ids count up');
        } else t.is(get16(s, 4), s.length - 40);
        if (f.tcp) {
          t.is(get32(s, (f.v6 ? 40 : 20) + 4), (0xfffff000 + i * mss) >>> 0, 'seq');
          const fl = s[(f.v6 ? 40 : 20) + 13] as number;
          t.is(fl & TCP.PSH, i === segs.length - 1 ? TCP.PSH : 0, 'PSH only on the last');
          t.is(fl & TCP.CWR, i === 0 ? TCP.CWR : 0, 'CWR only on the first');
        } else t.is(get16(s, (f.v6 ? 40 : 20) + 4), s.length - (f.v6 ? 40 : 20));
      });
      t.deepEqual(concat(segs.map(payloadOf)), data, `size ${size}: payload`);
    }
  });

  test(`coalescer: in-order ${name} segments become one super-packet, and splitting it gives them back`, (t) => {
    const segs = stream(f, 40 * mss + 123, mss, 7);
    const items = coalesce(segs);
    t.is(items.length, 1);
    const it = items[0] as Item;
    t.is(it.members, segs.length);
    const h = decodeVnet(it.bytes);
    t.is(h.flags, VNET.NEEDS_CSUM);
    t.is(h.gsoType, f.tcp ? (f.v6 ? VNET.TCPV6 : VNET.TCPV4) : VNET.UDP_L4);
    t.is(h.gsoSize, mss);
    t.is(h.csumStart, f.v6 ? 40 : 20);
    const merged = it.bytes.subarray(10);
    t.true(checksumsOk(finishChecksum(merged, h.csumStart, h.csumOffset)), 'the kernel would accept it');
    t.deepEqual(payloadOf(merged), concat(segs.map(payloadOf)));
    const again = segment(it.bytes);
    if (typeof again === 'number') return t.fail(`split dropped it (${again})`);
    t.deepEqual(again, segs, 'split(coalesce(x)) = x');
  });
}

test('segmenter: a packet that only needs its checksum gets it, and plain packets pass unchanged', (t) => {
  const p = packet(flow(false, false), bytes(300, 3));
  const partial = p.slice();
  partial[26] = 0;
  partial[27] = 0;
  const v = new DataView(partial.buffer);
  let s = 0x0a00 + 0x0001 + 0x0a00 + 0x0002 + 17 + (p.length - 20);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  v.setUint16(26, s);
  const h = encodeVnet({ flags: VNET.NEEDS_CSUM, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 20, csumOffset: 6 });
  t.deepEqual(segment(concat([h, partial])), [p]);
  const plain = encodeVnet({ flags: 0, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 });
  t.deepEqual(segment(concat([plain, p])), [p]);
});

test('segmenter: headers that do not add up are dropped with a reason, never split', (t) => {
  const f = flow(false, true);
  const sp = superPacket(f, bytes(5000, 1), 1380);
  const bad = (mut: (b: Uint8Array) => void): number | Uint8Array[] => {
    const b = sp.slice();
    mut(b);
    return segment(b);
  };
  t.is(
    bad((b) => (b[1] = VNET.TCPV6)),
    -1,
    'TCPv6 on an IPv4 packet',
  );
  t.is(
    bad((b) => (b[1] = 3)),
    -1,
    'UFO',
  );
  t.is(
    bad((b) => ((b[4] = 0), (b[5] = 0))),
    -1,
    'gso size 0',
  );
  t.is(
    bad((b) => (b[10 + 9] = 17)),
    -2,
    'protocol is not TCP',
  );
  t.is(
    bad((b) => (b[10 + 20 + 12] = 0x10)),
    -2,
    'TCP header shorter than 20',
  );
  t.is(
    bad((b) => (b[10 + 6] = 0x20)),
    -2,
    'a fragment',
  );
  t.is(segment(sp.subarray(0, 10 + 30)), -2, 'truncated TCP header');
  t.is(segment(superPacket(f, bytes(5000, 1), 3000)), -3, 'segments larger than a slot');
  t.is(segment(superPacket(f, bytes(60000, 1), 100)), -4, 'more segments than slots');
});

test('coalescer: flows interleave, each keeps its order; other packets close their flow', (t) => {
  const a = stream(flow(false, true, 1000), 5 * 1380, 1380, 1);
  const b = stream(flow(false, true, 2000), 5 * 1380, 1380, 2);
  const mixed: Uint8Array[] = [];
  for (let i = 0; i < 5; i++) mixed.push(a[i] as Uint8Array, b[i] as Uint8Array);
  const items = coalesce(mixed);
  t.deepEqual(
    items.map((i) => i.members),
    [5, 5],
  );

  // a FIN in the middle of a run: the run before it, the FIN alone, a new run after
  const f = flow(true, true);
  const segs = stream(f, 6 * 1360, 1360, 3).map((p) => p.slice());
  const fin = packet(f, bytes(1360, 9), { seq: 1000 + 3 * 1360, flags: TCP.ACK | TCP.FIN });
  const list = [segs[0], segs[1], segs[2], fin, segs[4], segs[5]] as Uint8Array[];
  t.deepEqual(
    coalesce(list).map((i) => i.members),
    [3, 1, 2],
    'the FIN goes alone after the run; the two after it (a new seq) make their own',
  );

  // a gap in seq starts a new run; a different ack too
  const g = stream(flow(false, true), 4 * 1380, 1380, 4);
  t.deepEqual(
    coalesce([g[0], g[2], g[3]] as Uint8Array[]).map((i) => i.members),
    [1, 2],
  );
  const ack2 = packet(flow(false, true), bytes(1380, 5), { seq: 1000 + 1380, ack: 999, id: 101 });
  t.deepEqual(
    coalesce([g[0], ack2] as Uint8Array[]).map((i) => i.members),
    [1, 1],
  );
});

test('coalescer: a bad checksum is never laundered: that packet goes alone, unchanged', (t) => {
  const segs = stream(flow(false, true), 4 * 1380, 1380, 6).map((p) => p.slice());
  const broken = segs[2] as Uint8Array;
  broken[100] = (broken[100] as number) ^ 0xff;
  const items = coalesce(segs);
  t.deepEqual(
    items.map((i) => i.members),
    [2, 1, 1],
  );
  t.deepEqual(items[1]?.bytes.subarray(10), segs[2]);
  t.deepEqual(decodeVnet(items[1]?.bytes as Uint8Array).flags, 0, 'the kernel checks it (and drops it)');
  const first = stream(flow(false, true), 3 * 1380, 1380, 6).map((p) => p.slice());
  const head = first[0] as Uint8Array;
  head[60] = (head[60] as number) ^ 1;
  t.deepEqual(
    coalesce(first).map((i) => i.members),
    [1, 2],
  );
});

test('coalescer: UDP runs only when asked (the kernel takes USO); ICMP, options and short last packets', (t) => {
  const u = stream(flow(false, false), 3 * 1000, 1000, 8);
  t.deepEqual(
    coalesce(u, false).map((i) => i.members),
    [1, 1, 1],
  );
  t.deepEqual(
    coalesce(u, true).map((i) => i.members),
    [3],
  );
  const short = packet(flow(false, false), bytes(10, 1), { id: 103 });
  const after = packet(flow(false, false), bytes(1000, 1), { id: 104 });
  t.deepEqual(
    coalesce([...u, short, after]).map((i) => i.members),
    [4, 1],
    'nothing follows a shorter datagram',
  );
  const icmp = packet(flow(false, false), bytes(50, 2));
  icmp[9] = 1;
  t.deepEqual(
    coalesce([icmp, icmp]).map((i) => i.members),
    [1, 1],
  );
  const opts = Uint8Array.of(1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2);
  const o1 = packet(flow(false, true), bytes(1368, 1), { seq: 1000, options: opts, id: 1 });
  const o2 = packet(flow(false, true), bytes(1368, 2), { seq: 2368, options: opts, id: 2 });
  const o3 = packet(flow(false, true), bytes(1368, 3), {
    seq: 3736,
    options: Uint8Array.of(1, 1, 8, 10, 0, 0, 0, 2, 0, 0, 0, 2),
    id: 3,
  });
  t.deepEqual(
    coalesce([o1, o2, o3]).map((i) => i.members),
    [2, 1],
    'TCP options must be identical (timestamps)',
  );
});

// Under qemu (the cross matrix sets SCROOGE_TEST_EXEC_PREFIX) JavaScript runs tens of times slower:
// fewer rounds there; test/native/offload_test.c fuzzes the same code on every architecture in C.
const FUZZ_ROUNDS = process.env.SCROOGE_TEST_EXEC_PREFIX ? 300 : 3000;

test(`fuzz: random headers through the segmenter and the coalescer are dropped or written whole, never over-read (${FUZZ_ROUNDS} rounds)`, (t) => {
  const r0 = prng(0x5eed);
  const rng = (): number => r0.u32() / 2 ** 32;
  const rnd = (k: number): number => r0.int(k);
  const kinds = KINDS.map(([, f, mss]) => [f, mss] as const);
  let dropped = 0;
  let split = 0;
  for (let iter = 0; iter < FUZZ_ROUNDS; iter++) {
    const [f, mss] = kinds[rnd(kinds.length)] as (typeof kinds)[number];
    const sp = superPacket(f, bytes(1 + rnd(20000), iter), 1 + rnd(mss));
    const cut = rng() < 0.3 ? sp.subarray(0, 10 + rnd(sp.length - 10)) : sp.slice();
    for (let m = rnd(6); m > 0; m--) cut[rnd(Math.min(cut.length, 80))] = rnd(256);
    const r = segment(cut);
    if (typeof r === 'number') {
      t.true(r >= -4 && r <= -1);
      dropped++;
    } else {
      split++;
      for (const s of r) t.true(s.length <= SLOT - HEAD - TAIL);
    }
    const segs = stream(f, 1 + rnd(8000), mss, iter).map((p) => p.slice());
    for (let m = rnd(4); m > 0; m--) {
      const s = segs[rnd(segs.length)] as Uint8Array;
      s[rnd(Math.min(s.length, 80))] = rnd(256);
    }
    const list = segs.map((s) => (rng() < 0.1 ? s.subarray(0, rnd(s.length) + 1) : s));
    const items = coalesce(list, rng() < 0.5);
    t.is(
      items.reduce((a, i) => a + i.members, 0),
      list.length,
      'every packet is written exactly once',
    );
    for (const it of items) {
      if (it.members === 1) continue;
      const h = decodeVnet(it.bytes);
      const merged = it.bytes.subarray(10);
      t.true(merged.length <= 65535, 'a super-packet fits an IP length');
      t.true(checksumsOk(finishChecksum(merged, h.csumStart, h.csumOffset)), 'merged only packets that verified');
    }
  }
  t.true(dropped > FUZZ_ROUNDS / 30 && split > FUZZ_ROUNDS / 30, `both paths ran (${dropped} dropped, ${split} split)`);
});

import test from 'ava';
import { deriveSessionKeys, tunnelKeyPair } from '../crypto/index.js';
import { readHeader, TUNNEL_OVERHEAD } from '../dataplane/packet.js';
import {
  adoptControlEndpoint,
  DEAD_AFTER_MS,
  Drop,
  KEEPALIVE_AFTER_MS,
  PROBE_EVERY_MS,
  REJECT_AFTER_MS,
  REKEY_AFTER_MESSAGES,
  REKEY_AFTER_MS,
  type SessionKeys,
  TunnelCore,
} from '../dataplane/session.js';
import { defaultTestBackend, prng } from './helpers/backends.js';
import { MemNet } from './helpers/memnet.js';

const backend = defaultTestBackend();

/** A negotiated pair of session keys, as the control plane would produce. */
function keyPair(seed: number) {
  const r = prng(seed);
  const a = tunnelKeyPair(backend, r.bytes(32));
  const b = tunnelKeyPair(backend, r.bytes(32));
  return { a: deriveSessionKeys(backend, a, b.publicKey), b: deriveSessionKeys(backend, b, a.publicKey) };
}

function packet(payload: Uint8Array): { buf: Uint8Array; len: number } {
  const buf = new Uint8Array(payload.length + TUNNEL_OVERHEAD + 8);
  buf.set(payload, 16);
  return { buf, len: payload.length };
}

/**
 * What follows a handshake in the data plane: both install, the initiator's
 * probe promotes the responder's session, the responder's ack promotes the
 * initiator's.
 */
function handshake(A: TunnelCore, B: TunnelCore, k: { a: SessionKeys; b: SessionKeys }, now: number): void {
  A.install(k.a, now, 'initiator');
  B.install(k.b, now, 'responder');
  const buf = new Uint8Array(TUNNEL_OVERHEAD);
  B.open(buf, 0, A.sealProbe(buf, 0, now), now);
  B.ackDue = false;
  A.open(buf, 0, B.seal(buf, 0, 0, now), now);
}

/** A sends one payload to B through `net`; returns the datagram bytes. */
function sealTo(core: TunnelCore, payload: Uint8Array, now: number): Uint8Array | undefined {
  const { buf, len } = packet(payload);
  const n = core.seal(buf, 0, len, now);
  return n === 0 ? undefined : buf.subarray(0, n);
}

test('neither end sends data on a session the peer has not proven: probe, promotion, ack', (t) => {
  const A = new TunnelCore(backend);
  const B = new TunnelCore(backend);
  const k = keyPair(1);
  t.true(A.install(k.a, 0, 'initiator'));
  t.true(B.install(k.b, 0, 'responder'));
  t.is(A.current, undefined);
  t.is(B.current, undefined);
  t.is(sealTo(A, new Uint8Array([1]), 1), undefined, 'the initiator sends no data before the responder answers');
  t.is(sealTo(B, new Uint8Array([1]), 1), undefined, 'the responder sends nothing before the initiator speaks');
  t.is(A.counters.dropNoSession + B.counters.dropNoSession, 2);
  t.deepEqual([A.tick(1).probe, A.tick(1).unprovenMs], [true, 1]);
  t.deepEqual([B.tick(1).probe, B.tick(1).unprovenMs], [false, -1], 'only the initiator probes');
  const probe = new Uint8Array(TUNNEL_OVERHEAD);
  t.is(A.sealProbe(probe, 0, 2), TUNNEL_OVERHEAD);
  t.false(A.tick(3).probe, 'next probe only after PROBE_EVERY_MS');
  t.true(A.tick(2 + PROBE_EVERY_MS).probe);
  t.is(B.sealProbe(new Uint8Array(TUNNEL_OVERHEAD), 0, 2), 0, 'a responder has nothing to probe');
  t.is(B.open(probe, 0, probe.length, 3), 0, 'the probe is a keepalive');
  t.is(B.current?.id, k.b.sessionId, 'the probe proved the session to the responder');
  t.true(B.ackDue, 'the responder must answer at once');
  const ack = sealTo(B, new Uint8Array(0), 4) as Uint8Array;
  t.is(readHeader(ack)?.sessionId, k.a.sessionId);
  t.is(A.open(ack, 0, ack.length, 5), 0);
  t.is(A.current?.id, k.a.sessionId, 'the ack proved it to the initiator');
  t.false(A.ackDue, 'an initiator does not answer the answer');
  t.is(A.tick(6).unprovenMs, -1);
  const msg = new TextEncoder().encode('hello through the tunnel');
  const d = sealTo(A, msg, 7) as Uint8Array;
  t.is(B.open(d, 0, d.length, 8), msg.length);
  t.deepEqual(d.subarray(16, 16 + msg.length), msg);
});

test('a confirm for an abandoned attempt (keys that do not match) never replaces the working session', (t) => {
  const A = new TunnelCore(backend);
  const B = new TunnelCore(backend);
  handshake(A, B, keyPair(11), 0);
  const working = A.current?.id;
  // A installs keys from a confirm that answered another key pair: B has no such session
  const wrong = keyPair(12);
  t.true(A.install(wrong.a, 10, 'initiator'));
  const probe = new Uint8Array(TUNNEL_OVERHEAD);
  t.is(B.open(probe, 0, A.sealProbe(probe, 0, 10), 11), Drop.staleSession);
  t.is(A.current?.id, working, 'data still goes on the working session');
  const d = sealTo(A, new Uint8Array([7]), 12) as Uint8Array;
  t.is(B.open(d, 0, d.length, 13), 1);
  t.is(A.tick(10 + 10_000).unprovenMs, 10_000, 'the control plane sees the unproven session age');
});

test('nonce/header layout: counters count from 0 (the probe) and the header is type 1, zero, session id, counter', (t) => {
  const A = new TunnelCore(backend);
  const B = new TunnelCore(backend);
  const k = keyPair(2);
  handshake(A, B, k, 0);
  for (let i = 1; i < 4; i++) {
    const d = sealTo(A, new Uint8Array(10), 0) as Uint8Array;
    t.deepEqual(readHeader(d), { type: 1, sessionId: k.a.sessionId, counter: i });
    t.deepEqual(Array.from(d.subarray(0, 4)), [1, 0, 0, 0]);
  }
});

test('drops: replayed, bit-flipped, malformed and unknown-session datagrams are counted, never thrown', (t) => {
  const A = new TunnelCore(backend);
  const B = new TunnelCore(backend);
  const k = keyPair(3);
  handshake(A, B, k, 0);
  const d = sealTo(A, new Uint8Array([9, 9, 9]), 0) as Uint8Array;
  const copy = Uint8Array.from(d);
  t.is(B.open(d, 0, d.length, 1), 3);
  t.is(B.open(Uint8Array.from(copy), 0, copy.length, 1), Drop.replay);
  const d2 = sealTo(A, new Uint8Array([1, 2, 3, 4]), 2) as Uint8Array;
  for (const bit of [0, 8 * 20, 8 * (d2.length - 1)]) {
    const bad = Uint8Array.from(d2);
    bad[bit >> 3] = (bad[bit >> 3] as number) ^ 1;
    const r = B.open(bad, 0, bad.length, 3);
    t.true(r === Drop.badTag || r === Drop.malformed, `bit ${bit}: ${r}`);
  }
  t.is(B.open(Uint8Array.from(d2), 0, d2.length, 3), 4, 'the real one still opens after forgeries');
  t.is(B.open(new Uint8Array(31), 0, 31, 3), Drop.malformed);
  const wrongType = Uint8Array.from(d2);
  wrongType[0] = 2;
  t.is(B.open(wrongType, 0, wrongType.length, 3), Drop.malformed);
  const otherSession = Uint8Array.from(d2);
  otherSession[4] = (otherSession[4] as number) ^ 0xff;
  t.is(B.open(otherSession, 0, otherSession.length, 3), Drop.staleSession);
  const c = B.counters;
  t.is(c.dropReplay, 1);
  t.true(c.dropBadTag >= 2);
  t.is(c.dropStaleSession, 1);
  t.is(c.rxPackets, 2);
});

test('reordering within the window is accepted once each', (t) => {
  const A = new TunnelCore(backend);
  const B = new TunnelCore(backend);
  const k = keyPair(4);
  handshake(A, B, k, 0);
  const ds = Array.from({ length: 200 }, () => sealTo(A, new Uint8Array(5), 0) as Uint8Array);
  const order = ds.map((_, i) => i).sort((x, y) => ((x * 7919) % 200) - ((y * 7919) % 200));
  let ok = 0;
  for (const i of order) if (B.open(Uint8Array.from(ds[i] as Uint8Array), 0, 37, 1) === 5) ok++;
  t.is(ok, 200);
  for (const i of order.slice(0, 20)) t.is(B.open(Uint8Array.from(ds[i] as Uint8Array), 0, 37, 1), Drop.replay);
});

test('rekey under a two-way flood with jitter and duplicates loses nothing (make-before-break)', (t) => {
  const r = prng(99);
  const net = new MemNet(() => r.u32() / 2 ** 32);
  net.jitterMs = 5;
  net.dupRate = 0.02;
  const A = new TunnelCore(backend);
  const B = new TunnelCore(backend);
  const k = keyPair(5);
  handshake(A, B, k, 0);
  const sent = { A: 0, B: 0 };
  const got = { A: new Set<number>(), B: new Set<number>() };
  const payload = (n: number) => new Uint8Array(new Uint32Array([n]).buffer);
  let rekeys = 0;
  let confirmAt = -1;
  let pendingKeys: ReturnType<typeof keyPair> | undefined;
  for (let now = 0; now < 10_000; now++) {
    // a ping flood both ways: every ms each side sends one packet
    for (const [from, core, to] of [
      ['A', A, 'B'],
      ['B', B, 'A'],
    ] as const) {
      if (core.current === undefined) continue; // B waits for A's first packet (as after a real handshake)
      const d = sealTo(core, payload(sent[from]), now);
      if (d) {
        sent[from]++;
        net.send(to, d, now);
      }
    }
    // every 2 s A (initiator) starts a rekey: B answers at once (responder), A gets the confirm 3 ms later
    if (now % 2000 === 1000) {
      pendingKeys = keyPair(1000 + now);
      B.install(pendingKeys.b, now, 'responder');
      confirmAt = now + 3;
    }
    if (now === confirmAt && pendingKeys) {
      A.install(pendingKeys.a, now, 'initiator');
      rekeys++;
    }
    // the data plane's own packets: the initiator's probe (first at once, then every second), the responder's ack
    if (A.tick(now).probe) {
      const p = new Uint8Array(TUNNEL_OVERHEAD);
      net.send('B', p.subarray(0, A.sealProbe(p, 0, now)), now);
    }
    for (const d of net.due(now)) {
      const core = d.to === 'A' ? A : B;
      const n = core.open(d.data, 0, d.data.length, now);
      if (n > 0) got[d.to as 'A' | 'B'].add(new Uint32Array(d.data.slice(16, 20).buffer)[0] as number);
      else if (n !== Drop.replay && n !== 0) t.fail(`unexpected drop ${n} at ${now}`);
      if (core.ackDue) {
        core.ackDue = false;
        const ack = sealTo(core, new Uint8Array(0), now) as Uint8Array;
        net.send(d.to === 'A' ? 'B' : 'A', ack, now);
      }
    }
  }
  for (const d of net.due(1e9)) {
    const core = d.to === 'A' ? A : B;
    const n = core.open(d.data, 0, d.data.length, 10_010);
    if (n > 0) got[d.to as 'A' | 'B'].add(new Uint32Array(d.data.slice(16, 20).buffer)[0] as number);
  }
  t.is(rekeys, 5);
  t.is(A.counters.dropNoSession, 0);
  t.is(B.counters.dropNoSession, 0);
  t.is(got.B.size, sent.A, 'every packet A sent arrived exactly once');
  t.is(got.A.size, sent.B, 'every packet B sent arrived exactly once');
  t.is(A.counters.dropBadTag + B.counters.dropBadTag, 0);
  t.is(A.counters.dropStaleSession + B.counters.dropStaleSession, 0);
  t.true(B.counters.rotations >= 6, 'B switched to each new session');
  t.true(A.counters.rotations >= 6, 'A switched to each new session once B answered on it');
  t.is(A.tick(10_010).unprovenMs, -1, 'every rekey was proven');
});

test('timers: keepalive after 10 s idle, rekey due at 120 s, dead after 30 s silent, session rejected at 180 s', (t) => {
  const A = new TunnelCore(backend);
  const B = new TunnelCore(backend);
  const k = keyPair(6);
  t.deepEqual(A.tick(0), {
    keepalive: false,
    rekeyDue: false,
    dead: false,
    noSession: true,
    probe: false,
    unprovenMs: -1,
  });
  handshake(A, B, k, 0);
  t.false(A.tick(0).keepalive, 'the probe was a send');
  t.false(A.tick(KEEPALIVE_AFTER_MS - 1).keepalive);
  t.true(A.tick(KEEPALIVE_AFTER_MS).keepalive);
  // due within a horizon: what the shell sends early while the peer is awake (its hello just came)
  t.false(A.keepaliveDueWithin(KEEPALIVE_AFTER_MS - 6001, 6000));
  t.true(A.keepaliveDueWithin(KEEPALIVE_AFTER_MS - 6000, 6000));
  t.false(new TunnelCore(backend).keepaliveDueWithin(KEEPALIVE_AFTER_MS, 6000), 'no session, no keepalive');
  t.false(A.tick(DEAD_AFTER_MS - 1).dead);
  t.true(A.tick(DEAD_AFTER_MS).dead, 'nothing authenticated for 30 s');
  t.false(A.tick(REKEY_AFTER_MS).rekeyDue, "age is the control core's business");
  (A.current as { sendCounter: number }).sendCounter = REKEY_AFTER_MESSAGES;
  t.true(A.tick(REKEY_AFTER_MS).rekeyDue, 'after REKEY_AFTER_MESSAGES the data plane asks for a rekey');
  (A.current as { sendCounter: number }).sendCounter = 5;
  t.truthy(sealTo(A, new Uint8Array(1), REJECT_AFTER_MS - 1));
  t.is(sealTo(A, new Uint8Array(1), REJECT_AFTER_MS), undefined);
  t.true(A.tick(REJECT_AFTER_MS).noSession);
  t.false(A.keepaliveDueWithin(REJECT_AFTER_MS, 6000), 'nor on a session past its age');
});

test('a session id collision is refused', (t) => {
  const A = new TunnelCore(backend);
  const k = keyPair(7);
  t.true(A.install(k.a, 0, 'initiator'));
  t.false(A.install({ ...keyPair(8).a, sessionId: k.a.sessionId }, 1, 'responder'));
});

test('sealList/openList: a batch round trip in one slab, with drops skipped and the last slot reported', (t) => {
  const A = new TunnelCore(backend);
  const B = new TunnelCore(backend);
  const k = keyPair(9);
  handshake(A, B, k, 0);
  const slot = 2048;
  const slab = new Uint8Array(slot * 4);
  const meta = new Int32Array(16);
  const lens = [100, 0, 1420, 7];
  lens.forEach((len, i) => {
    slab.fill(i + 1, i * slot + 16, i * slot + 16 + len);
    meta[i * 4] = i * slot + 16;
    meta[i * 4 + 1] = len;
  });
  const out = new Int32Array(16);
  const n = A.sealList(slab, meta, 4, out, 0);
  t.is(n, 4);
  for (let i = 0; i < 4; i++) {
    t.is(out[i * 4], i * slot);
    t.is(out[i * 4 + 1], (lens[i] as number) + 32);
  }
  // datagrams as the UDP port would report them; corrupt the third
  out.forEach((_, i) => {
    if (i % 4 === 3) out[i] = i >> 2;
  });
  slab[2 * slot + 40] = (slab[2 * slot + 40] as number) ^ 1;
  const payloads = new Int32Array(16);
  const last = new Int32Array(1);
  const m = B.openList(slab, out, 0, 4, payloads, 1, last);
  t.is(m, 2, 'the keepalive carries nothing and the corrupted one is dropped');
  t.deepEqual([payloads[0], payloads[1], payloads[4], payloads[5]], [16, 100, 3 * slot + 16, 7]);
  t.true(slab.subarray(16, 116).every((x) => x === 1));
  t.true(slab.subarray(3 * slot + 16, 3 * slot + 23).every((x) => x === 4));
  t.is(last[0], 3);
  t.is(B.counters.dropBadTag, 1);
  t.is(B.counters.rxKeepalives, 2, "the probe and this batch's keepalive");
});

test('a control message may set the endpoint only of a tunnel without a working one', (t) => {
  t.true(adoptControlEndpoint(false, Number.NEGATIVE_INFINITY, 0), 'no endpoint yet');
  t.true(adoptControlEndpoint(true, Number.NEGATIVE_INFINITY, 5000), 'never authenticated anything');
  t.false(adoptControlEndpoint(true, 1000, 1000 + DEAD_AFTER_MS - 1), 'working: only authenticated packets move it');
  t.true(adoptControlEndpoint(true, 1000, 1000 + DEAD_AFTER_MS), 'dead: the old one does not work anyway');
});

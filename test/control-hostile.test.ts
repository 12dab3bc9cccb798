/**
 * The control core against an on-link attacker (pure: injected clock, crafted
 * datagrams): reflection through a spoofed source, answers to sources we must
 * not answer, retransmissions that never end.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { compareBytes, identityFromSeed } from '../crypto/index.js';
import { type Action, ControlCore } from '../src/control/core.js';
import { SeqFloors } from '../src/control/floors.js';
import { BROADCAST_KEY, type ControlFields, encodeControlMessage, maxMessageBytes } from '../src/control/messages.js';
import { LIMITS } from '../src/limits.js';
import { fileFloorStore } from '../src/state.js';
import type { SockAddr } from '../dataplane/sockaddr.js';
import { defaultTestBackend, prng } from './helpers/backends.js';
import { ControlSim, ll } from './helpers/controlsim.js';

const backend = defaultTestBackend();
const me = identityFromSeed(backend, new Uint8Array(32).fill(1));

/** A control core on eth0 with an injected clock and randomness; options for the table tests. */
function core(
  opts: {
    peers?: Array<{ addr: SockAddr; iface: string }>;
    max?: number;
    configured?: Set<string>;
    floors?: SeqFloors;
  } = {},
): ControlCore {
  const r = prng(7);
  const c = new ControlCore({
    backend,
    publicKey: me.publicKey,
    random: (n) => r.bytes(n),
    helloIntervalMs: 5000,
    maxNeighbors: opts.max ?? 256,
    neighborTimeoutMs: 60_000,
    port: 8481,
    peers: opts.peers ?? [],
    isConfigured: (pk) => opts.configured?.has(pk) ?? false,
    ...(opts.floors ? { floors: opts.floors } : {}),
  });
  c.interfaceUp('eth0', 0);
  return c;
}

function datagram(seed: number, fields: ControlFields): Uint8Array {
  return new Uint8Array(
    Buffer.from(encodeControlMessage(fields, identityFromSeed(backend, new Uint8Array(32).fill(seed))), 'latin1'),
  );
}

/** Bytes of the unicast sends to `to` among `actions` (their encoded upper bound). */
function sentTo(actions: Action[], to: SockAddr): { bytes: number; tunnels: number } {
  let bytes = 0;
  let tunnels = 0;
  for (const a of actions) {
    if (a.kind !== 'send' || Buffer.compare(a.to.address, to.address) !== 0) continue;
    bytes += maxMessageBytes(a.message.type);
    if (a.message.type === 'scrooge_tunnel') tunnels++;
  }
  return { bytes, tunnels };
}

test('a spoofed source sending valid hellos from fresh keys gets back at most 3x its bytes, and no endless retransmissions', (t) => {
  const c = core();
  const victim = ll(99);
  let rx = 0;
  let tx = 0;
  let tunnels = 0;
  let seq = 1n;
  for (let now = 0; now < 120_000; now += 250) {
    if (now % 5000 === 0) {
      // a new key every 5 s, as a Sybil with unlimited keys would
      const bytes = datagram(100 + now / 5000, { type: 'scrooge_hello', dstPK: BROADCAST_KEY, seq: seq++ });
      rx += bytes.length;
      const s = sentTo(c.onDatagram(bytes, { iface: 'eth0', addr: victim }, now), victim);
      tx += s.bytes;
      tunnels += s.tunnels;
    }
    const s = sentTo(
      c.tick(now, () => undefined),
      victim,
    );
    tx += s.bytes;
    tunnels += s.tunnels;
  }
  t.log(`received ${rx} B, sent at most ${tx} B (${(tx / rx).toFixed(2)}x), ${tunnels} scrooge_tunnel`);
  t.true(tx <= LIMITS.amplificationFactor * rx, `sent ${tx} for ${rx} received`);
  t.true(c.counters.txWithheldAmplification > 0, 'retransmissions to the spoofed source were withheld');
  t.true(tunnels <= 24 * LIMITS.tunnelMaxAttempts);
});

test('an unanswered initiation stops after tunnelMaxAttempts and starts again only when the neighbour speaks', (t) => {
  const c = core();
  const peer = ll(5);
  const from = { iface: 'eth0', addr: peer };
  // credit enough that the amplification budget is not what stops it (under the per-source burst)
  for (let i = 0; i < 20; i++) c.onDatagram(new Uint8Array(400), from, 0);
  const hello = (seq: bigint) => datagram(5, { type: 'scrooge_hello', dstPK: BROADCAST_KEY, seq });
  let n = sentTo(c.onDatagram(hello(1n), from, 0), peer).tunnels;
  const ticks = (from_: number, to: number) => {
    for (let now = from_; now < to; now += 250)
      n += sentTo(
        c.tick(now, () => undefined),
        peer,
      ).tunnels;
  };
  ticks(0, 40_000);
  t.is(n, LIMITS.tunnelMaxAttempts, 'abandoned after the last backoff (about 32 s)');
  t.is(c.counters.attemptsAbandoned, 1);
  const link = [...c.links.values()][0];
  t.is(link?.state, 'down');
  t.true(link?.awaitingNews);
  ticks(40_000, 50_000);
  t.is(n, LIMITS.tunnelMaxAttempts, 'nothing more while the neighbour is silent');
  t.is(sentTo(c.onDatagram(hello(2n), from, 50_000), peer).tunnels, 1, 'a new hello starts a new attempt at once');
});

test('messages from a non-link-local source are not answered unless the operator named it with --peer', (t) => {
  const global: SockAddr = {
    family: 6,
    address: new Uint8Array([0x20, 1, 0xd, 0xb8, ...new Array<number>(11).fill(0), 7]),
    port: 8481,
    scopeId: 0,
  };
  const c = core();
  const out = c.onDatagram(
    datagram(9, { type: 'scrooge_hello', dstPK: BROADCAST_KEY, seq: 1n }),
    { iface: 'eth0', addr: global },
    0,
  );
  t.deepEqual(out, []);
  t.is(c.counters.dropNotLinkLocal, 1);
  t.is(c.links.size, 0, 'no state either');
  const withPeer = core({ peers: [{ addr: global, iface: 'eth0' }] });
  const answered = withPeer.onDatagram(
    datagram(9, { type: 'scrooge_hello', dstPK: BROADCAST_KEY, seq: 1n }),
    { iface: 'eth0', addr: global },
    0,
  );
  t.true(answered.some((a) => a.kind === 'send' && a.message.type === 'scrooge_hello_confirm'));
});

test('maxMessageBytes bounds every real encoding', (t) => {
  const bound = (f: ControlFields) =>
    Buffer.byteLength(encodeControlMessage(f, me), 'latin1') <= maxMessageBytes(f.type);
  const big = 2n ** 64n - 1n;
  t.true(bound({ type: 'scrooge_hello', dstPK: BROADCAST_KEY, seq: big }));
  t.true(bound({ type: 'scrooge_hello_confirm', dstPK: me.publicKey, seq: big }));
  const endpoint = { host: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', port: 65535, family: 6 as const };
  t.true(bound({ type: 'scrooge_tunnel', dstPK: me.publicKey, seq: big, tunnelPK: me.publicKey, endpoint }));
  t.true(bound({ type: 'scrooge_tunnel_confirm', dstPK: me.publicKey, seq: big, tunnelPK: me.publicKey, endpoint }));
});

const helloFrom = (seed: number, seq = 1n) => datagram(seed, { type: 'scrooge_hello', dstPK: BROADCAST_KEY, seq });
const keyOf = (seed: number) => identityFromSeed(backend, new Uint8Array(32).fill(seed)).publicKeyBase64;

test('a full table of keys that never completed a handshake cannot keep a newcomer out: the one silent longest is displaced', (t) => {
  const c = core({ max: 8 });
  for (let i = 0; i < 8; i++) c.onDatagram(helloFrom(100 + i), { iface: 'eth0', addr: ll(100 + i) }, i * 10);
  t.is(c.links.size, 8);
  const out = c.onDatagram(helloFrom(5), { iface: 'eth0', addr: ll(5) }, 1000);
  t.is(c.links.size, 8);
  t.true(
    [...c.links.values()].some((l) => l.pkB64 === keyOf(5)),
    'the newcomer is in',
  );
  t.false(
    [...c.links.values()].some((l) => l.pkB64 === keyOf(100)),
    'the first Sybil key (silent longest) is out',
  );
  t.is(c.counters.displaced, 1);
  t.is(c.counters.dropTableFull, 0);
  t.true(out.some((a) => a.kind === 'log' && a.msg === 'neighbour removed'));
});

test('configured keys are never displaced; when nothing can be, the newcomer is refused and counted', (t) => {
  const configured = new Set<string>();
  for (let i = 0; i < 4; i++) configured.add(keyOf(100 + i));
  const c = core({ max: 4, configured });
  for (let i = 0; i < 4; i++) c.onDatagram(helloFrom(100 + i), { iface: 'eth0', addr: ll(100 + i) }, i);
  c.onDatagram(helloFrom(5), { iface: 'eth0', addr: ll(5) }, 1000);
  t.is(c.counters.dropTableFull, 1);
  t.is(c.counters.displaced, 0);
  t.deepEqual([...c.links.values()].map((l) => l.pkB64).sort(), [...configured].sort());
});

test('one address with many keys gets at most linksPerSourceAddress links', (t) => {
  const c = core();
  const addr = ll(66);
  for (let i = 0; i < 20; i++) c.onDatagram(helloFrom(150 + i), { iface: 'eth0', addr }, i * 100);
  t.is(c.links.size, LIMITS.linksPerSourceAddress);
  t.is(c.counters.dropPerSourceLimit, 20 - LIMITS.linksPerSourceAddress);
  c.onDatagram(helloFrom(7), { iface: 'eth0', addr: ll(7) }, 5000);
  t.is(c.links.size, LIMITS.linksPerSourceAddress + 1, 'another address is not affected');
});

test('an established neighbour is never displaced by a Sybil newcomer', (t) => {
  const sim = new ControlSim(21);
  sim.maxNeighbors = 1;
  const a = sim.add('a', 1, { eth0: ll(1) });
  const b = sim.add('b', 2, { eth0: ll(2) });
  a.start(0);
  b.start(0);
  sim.until(() => a.stateOf(b, 'eth0') === 'up' && b.stateOf(a, 'eth0') === 'up', 5000);
  a.core.onDatagram(helloFrom(200), { iface: 'eth0', addr: ll(200) }, sim.now);
  t.is(a.stateOf(b, 'eth0'), 'up');
  t.is(a.core.links.size, 1);
  t.is(a.core.counters.dropTableFull, 1);
  t.is(a.core.counters.displaced, 0);
});

/** A hello claiming a random key with a signature that does not verify: costs us a verification. */
function forgedHello(r: ReturnType<typeof prng>): Uint8Array {
  const pk = Buffer.from(r.bytes(32)).toString('base64');
  const sig = Buffer.from(r.bytes(64)).toString('base64');
  return new Uint8Array(Buffer.from(`scrooge_hello ${pk} ${BROADCAST_KEY_B64} ${r.u32()} ${sig}`, 'latin1'));
}
const BROADCAST_KEY_B64 = Buffer.from(BROADCAST_KEY).toString('base64');

test("a flood spoofing an established neighbour's address (forged keys, 400/s) does not stop its rekeys", (t) => {
  const sim = new ControlSim(31);
  const a = sim.add('a', 1, { eth0: ll(1) });
  const b = sim.add('b', 2, { eth0: ll(2) });
  // the attacker sends with b's (and a's) link-local source address; it never receives
  const spoofB = sim.add('spoof-b', 3, { eth0: ll(2) });
  const spoofA = sim.add('spoof-a', 4, { eth0: ll(1) });
  spoofB.alive = false;
  spoofA.alive = false;
  a.start(0);
  b.start(0);
  sim.until(() => a.stateOf(b, 'eth0') === 'up' && b.stateOf(a, 'eth0') === 'up', 5000);
  const upAt = sim.now;
  const r = prng(5);
  const sessions = new Set<number>();
  const to = (n: number) => ({ ...ll(n), port: 8481 });
  // 250 s: two rekeys are due (every 120 s); every 10 ms two forged hellos each way (the cost of the
  // test is the verifications the per-address bucket still allows, 20/s each way: keep it short)
  sim.run(250_000, 10, (now) => {
    for (let i = 0; i < 2; i++) {
      sim.inject({ kind: 'control', from: spoofB, iface: 'eth0', to: to(1), bytes: forgedHello(r), at: now });
      sim.inject({ kind: 'control', from: spoofA, iface: 'eth0', to: to(2), bytes: forgedHello(r), at: now });
    }
    const s = a.tunnels.get(a.linkTo(b, 'eth0'))?.current;
    if (s !== undefined) sessions.add(s);
  });
  const down = [...a.stateLog, ...b.stateLog].filter((e) => e.at > upAt && e.to !== 'up');
  t.deepEqual(down, [], 'the link never left up');
  t.true(sessions.size >= 3, `sessions used: ${sessions.size} (the first and two rekeys)`);
  t.true(a.core.counters.dropRateLimited + a.core.counters.dropBadSignature > 40_000, 'the flood arrived');
  t.log(
    `a: ${a.core.counters.dropBadSignature} forged verified and dropped, ${a.core.counters.dropRateLimited} rate-limited; ${sessions.size} sessions`,
  );
});

test('a replayed hello of a link that is gone (silent, or before a restart) does not bring it back', (t) => {
  const c = core();
  const from = { iface: 'eth0', addr: ll(40) };
  const old = helloFrom(40, 5n);
  c.onDatagram(old, from, 0);
  t.is(c.links.size, 1);
  for (let now = 0; now <= 70_000; now += 250) c.tick(now, () => undefined);
  t.is(c.links.size, 0, 'removed after the neighbour timeout');
  const replayed = c.onDatagram(old, from, 71_000);
  t.is(c.links.size, 0, 'the captured hello did not revive it');
  t.deepEqual(replayed, []);
  t.is(c.counters.dropOldSeq, 1);
  t.is(c.counters.dropBadSignature + c.counters.dropRateLimited, 0, 'dropped before any verification');
  // a restart: the floors come back from the state directory (here: through the same store format)
  const dir = mkdtempSync(join(tmpdir(), 'scrooge-floors-'));
  try {
    const store = fileFloorStore(dir);
    store.save(c.floors.entries());
    const floors = new SeqFloors(LIMITS.seqFloorLinks);
    floors.restore(store.load());
    const restarted = core({ floors });
    restarted.onDatagram(old, from, 1000);
    t.is(restarted.links.size, 0, 'nor after a restart');
    restarted.onDatagram(helloFrom(40, 6n), from, 1000);
    t.is(restarted.links.size, 1, 'a new hello is accepted');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the replay floors are bounded (least recently updated forgotten first) and a bad line in their file is skipped', (t) => {
  const f = new SeqFloors(3);
  for (const [k, v] of [
    ['a', 1n],
    ['b', 2n],
    ['c', 3n],
  ] as const)
    f.note(k, v);
  f.note('a', 4n);
  f.note('d', 5n);
  t.deepEqual([...f.entries().keys()], ['c', 'a', 'd']);
  t.is(f.evicted, 1);
  f.note('c', 1n);
  t.is(f.get('c'), 3n, 'a floor never goes down');
  const dir = mkdtempSync(join(tmpdir(), 'scrooge-floors-'));
  try {
    const key = `${me.publicKeyBase64}|eth0`;
    writeFileSync(join(dir, 'seq-floors'), `${key} 42\ngarbage\n${key.slice(1)} 7\n`);
    const bad: number[] = [];
    const m = fileFloorStore(dir, (line) => bad.push(line)).load();
    t.deepEqual([...m], [[key, 42n]]);
    t.deepEqual(bad, [2, 3]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a link is up only when the peer has authenticated traffic on the session: lost probe answers keep the initiator negotiating, then it negotiates again', (t) => {
  const sim = new ControlSim(41);
  const a = sim.add('a', 1, { eth0: ll(1) });
  const b = sim.add('b', 2, { eth0: ll(2) });
  // the initiator is the lower key; every data packet towards it is lost (control messages pass)
  const [ini, resp] = compareBytes(a.identity.publicKey, b.identity.publicKey) < 0 ? [a, b] : [b, a];
  sim.drop = (d) => d.kind === 'data' && d.from === resp;
  ini.start(0);
  resp.start(0);
  sim.run(LIMITS.probeTimeoutMs + 3000);
  t.not(ini.stateOf(resp, 'eth0'), 'up', 'no answer ever authenticated: never up');
  t.true(ini.core.counters.unprovenSessions >= 1, 'the unproven session was negotiated again');
  t.false(ini.stateLog.some((e) => e.to === 'up'));
  sim.drop = undefined;
  sim.until(() => ini.stateOf(resp, 'eth0') === 'up' && resp.stateOf(ini, 'eth0') === 'up', 15_000);
  t.pass();
});

test('a tunnel whose setup keeps failing (a TUN name held by another device) is retried with a doubling delay, then given up', (t) => {
  const c = core();
  const from = { iface: 'eth0', addr: ll(50) };
  let seq = 1n;
  const ensures: number[] = [];
  // every setup fails at once, as a foreign device holding the name makes it
  const feed = (out: Action[], now: number): void => {
    for (const a of out) {
      if (a.kind !== 'ensureTunnel') continue;
      ensures.push(now);
      feed(c.tunnelFailed(a.link, now, 'busy', 'EBUSY'), now);
    }
  };
  for (let now = 0; now <= 400_000; now += 250) {
    if (now % 5000 === 0) feed(c.onDatagram(helloFrom(50, seq++), from, now), now);
    feed(
      c.tick(now, () => undefined),
      now,
    );
  }
  t.is(ensures.length, LIMITS.deviceMaxAttempts, `setups at ${ensures.join(', ')} ms`);
  const gaps = ensures.slice(1).map((x, i) => x - (ensures[i] as number));
  for (const [i, g] of gaps.entries()) t.true(g >= LIMITS.deviceRetryMs * 2 ** i, `gap ${i}: ${g} ms`);
  const link = [...c.links.values()][0];
  t.is(link?.state, 'down');
  t.regex(link?.lastError ?? '', /busy \[EBUSY\]/);
  t.is(c.counters.setupGivenUp, 1);
});

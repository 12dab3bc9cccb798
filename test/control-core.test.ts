import { LIMITS } from '../base/constants.js';
import test from 'ava';
import { compareBytes } from '../crypto/index.js';
import { REKEY_AFTER_MESSAGES } from '../dataplane/session.js';
import { ControlSim, ll, type SimNode } from './helpers/controlsim.js';

function bothUp(a: SimNode, b: SimNode, iface = 'eth0'): boolean {
  return a.stateOf(b, iface) === 'up' && b.stateOf(a, iface) === 'up';
}

function sessionsAgree(a: SimNode, b: SimNode, iface = 'eth0'): boolean {
  const ta = a.tunnels.get(a.linkTo(b, iface));
  const tb = b.tunnels.get(b.linkTo(a, iface));
  return ta?.current !== undefined && ta.current === tb?.current;
}

test('two nodes discover each other and reach up with one shared session, crossing resolved by key order', (t) => {
  const sim = new ControlSim(1);
  const a = sim.add('a', 1, { eth0: ll(1) });
  const b = sim.add('b', 2, { eth0: ll(2) });
  a.start(0);
  b.start(0);
  const took = sim.until(() => bothUp(a, b) && sessionsAgree(a, b), 5000);
  t.true(took < 1000, `up after ${took} ms of simulated time`);
  sim.run(2000);
  t.true(sessionsAgree(a, b));
  const lower = compareBytes(a.identity.publicKey, b.identity.publicKey) < 0 ? a : b;
  const higher = lower === a ? b : a;
  t.is(lower.core.links.get(lower.linkTo(higher, 'eth0'))?.role, 'initiator', "the lower key's initiation wins");
  t.is(higher.core.links.get(higher.linkTo(lower, 'eth0'))?.role, 'responder');
  t.is(a.tunnels.size, 1);
  t.is(b.tunnels.size, 1);
});

test("an accepted hello's confirm names its link (the shell's cue for a due keepalive); other messages and drops name none", (t) => {
  const sim = new ControlSim(11);
  const a = sim.add('a', 1, { eth0: ll(1) });
  const b = sim.add('b', 2, { eth0: ll(2) });
  const heard: Array<string | undefined> = [];
  const receive = a.core.onDatagram.bind(a.core);
  a.core.onDatagram = (bytes, from, now) => {
    const out = receive(bytes, from, now);
    const confirm = out.find((x) => x.kind === 'send' && x.message.type === 'scrooge_hello_confirm');
    heard.push(confirm?.kind === 'send' ? confirm.link : undefined);
    return out;
  };
  a.start(0);
  b.start(0);
  sim.until(() => bothUp(a, b), 5000);
  sim.run(12_000);
  const link = a.linkTo(b, 'eth0');
  t.true(heard.filter((h) => h === link).length >= 2, "b's hellos");
  t.true(heard.includes(undefined), 'confirms and tunnel messages name none');
  t.true(heard.every((h) => h === undefined || h === link));
  t.is(a.core.onDatagram(new Uint8Array([1, 2, 3]), { iface: 'eth0', addr: ll(2) }, 12_001).length, 0);
  t.is(heard.at(-1), undefined, 'a dropped datagram names none');
});

test('three nodes on one link: a full mesh of three tunnels', (t) => {
  const sim = new ControlSim(2);
  const n = [sim.add('a', 1, { br: ll(1) }), sim.add('b', 2, { br: ll(2) }), sim.add('c', 3, { br: ll(3) })];
  for (const x of n) x.start(0);
  sim.until(() => n.every((x) => n.every((y) => x === y || (bothUp(x, y, 'br') && sessionsAgree(x, y, 'br')))), 5000);
  for (const x of n) t.is(x.tunnels.size, 2);
});

test('a neighbour on two interfaces gets two links and two tunnels', (t) => {
  const sim = new ControlSim(3);
  const a = sim.add('a', 1, { e1: ll(1), e2: ll(11) });
  const b = sim.add('b', 2, { e1: ll(2), e2: ll(12) });
  a.start(0);
  b.start(0);
  sim.until(() => bothUp(a, b, 'e1') && bothUp(a, b, 'e2'), 5000);
  t.is(a.tunnels.size, 2);
  t.not(a.tunnels.get(a.linkTo(b, 'e1'))?.current, a.tunnels.get(a.linkTo(b, 'e2'))?.current);
});

test('30% loss, duplicates and reordering: discovery and negotiation still complete, sessions agree', (t) => {
  for (let seed = 10; seed < 20; seed++) {
    const sim = new ControlSim(seed);
    sim.lossRate = 0.3;
    sim.dupRate = 0.1;
    sim.jitterMs = 80;
    const a = sim.add('a', 1, { eth0: ll(1) });
    const b = sim.add('b', 2, { eth0: ll(2) });
    a.start(0);
    b.start(0);
    sim.until(() => bothUp(a, b) && sessionsAgree(a, b), 60_000);
    sim.run(3000);
    t.true(sessionsAgree(a, b), `seed ${seed}`);
    t.is(a.tunnels.size, 1);
    t.is(b.tunnels.size, 1);
  }
});

test('crossing initiations: both start at once, exactly one handshake wins, no tunnel is duplicated', (t) => {
  const sim = new ControlSim(4);
  sim.delayMs = 50; // both discover each other before any scrooge_tunnel arrives
  const a = sim.add('a', 1, { eth0: ll(1) });
  const b = sim.add('b', 2, { eth0: ll(2) });
  a.start(0);
  b.start(0);
  sim.until(() => bothUp(a, b) && sessionsAgree(a, b), 5000);
  const crossings = a.core.counters.crossingsWon + b.core.counters.crossingsWon;
  t.true(crossings >= 1, 'the simultaneous initiations crossed');
  t.is(a.core.counters.handshakes + b.core.counters.handshakes, 2, 'one handshake, seen once on each side');
});

test('a replayed old hello is dropped and changes nothing', (t) => {
  const sim = new ControlSim(5);
  const a = sim.add('a', 1, { eth0: ll(1) });
  const b = sim.add('b', 2, { eth0: ll(2) });
  let firstHello: Uint8Array | undefined;
  b.start(0);
  sim.run(0); // nothing
  // capture b's first hello by intercepting its send
  const orig = sim.send.bind(sim);
  sim.send = (d) => {
    if (!firstHello && d.from === b && d.kind === 'control') firstHello = d.bytes;
    orig(d);
  };
  a.start(0);
  sim.until(() => bothUp(a, b), 5000);
  const before = a.core.counters.dropOldSeq;
  const link = a.core.links.get(a.linkTo(b, 'eth0'));
  const seqBefore = link?.highestSeq;
  sim.inject({ kind: 'control', from: b, iface: 'eth0', to: ll(1), bytes: firstHello, at: sim.now });
  sim.run(100);
  t.is(a.core.counters.dropOldSeq, before + 1);
  t.is(a.core.links.get(a.linkTo(b, 'eth0'))?.highestSeq, seqBefore);
  t.true(bothUp(a, b));
});

test('forged and malformed datagrams are counted, never thrown, and create no neighbour', (t) => {
  const sim = new ControlSim(6);
  const a = sim.add('a', 1, { eth0: ll(1) });
  const b = sim.add('b', 2, { eth0: ll(2) });
  a.start(0);
  const core = a.core;
  const src = { iface: 'eth0', addr: ll(9) };
  t.deepEqual(core.onDatagram(new Uint8Array([1, 2, 3]), src, 10), []);
  const hello = `scrooge_hello ${b.identity.publicKeyBase64} ${'A'.repeat(43)}= 5 ${'A'.repeat(86)}==`;
  t.deepEqual(core.onDatagram(new TextEncoder().encode(hello), src, 20), []);
  t.deepEqual(core.onDatagram(new TextEncoder().encode('hello'), { iface: 'wlan9', addr: ll(9) }, 30), []);
  t.is(core.counters.dropDecode, 1);
  t.is(core.counters.dropBadSignature, 1);
  t.is(core.counters.dropNotMesh, 1);
  t.is(core.links.size, 0);
});

test('a flood from one source is rate limited before any signature check', (t) => {
  const sim = new ControlSim(7);
  const a = sim.add('a', 1, { eth0: ll(1) });
  a.start(0);
  const junk = new TextEncoder().encode(`scrooge_hello ${'Q'.repeat(43)}= ${'A'.repeat(43)}= 1 ${'A'.repeat(86)}==`);
  for (let i = 0; i < 1000; i++) a.core.onDatagram(junk, { iface: 'eth0', addr: ll(66) }, 1000);
  const c = a.core.counters;
  t.is(c.dropRateLimited, 1000 - 40, 'only the burst passed');
  t.is(c.dropBadSignature, 40);
  // another source is not affected
  a.core.onDatagram(junk, { iface: 'eth0', addr: ll(67) }, 1000);
  t.is(c.dropBadSignature, 41);
});

test('kill -9 and restart: the restarted node is up again quickly, its neighbour keeps one tunnel', (t) => {
  const sim = new ControlSim(8);
  const a = sim.add('a', 1, { eth0: ll(1) });
  const b = sim.add('b', 2, { eth0: ll(2) });
  a.start(0);
  b.start(0);
  sim.until(() => bothUp(a, b) && sessionsAgree(a, b), 5000);
  const oldSession = a.tunnels.get(a.linkTo(b, 'eth0'))?.current;
  sim.run(20_000);
  b.alive = false;
  sim.run(3000);
  b.restart(sim.now);
  const took = sim.until(
    () => bothUp(a, b) && sessionsAgree(a, b) && a.tunnels.get(a.linkTo(b, 'eth0'))?.current !== oldSession,
    15_000,
  );
  t.true(took < 10_000, `back up after ${took} ms`);
  t.is(a.tunnels.size, 1, 'no duplicate tunnel on the survivor');
  t.is(a.core.links.size, 1);
  t.is(b.tunnels.size, 1);
});

test('rekey every 120 s: new sessions, the link never leaves up', (t) => {
  const sim = new ControlSim(9);
  const a = sim.add('a', 1, { eth0: ll(1) });
  const b = sim.add('b', 2, { eth0: ll(2) });
  a.start(0);
  b.start(0);
  sim.until(() => bothUp(a, b) && sessionsAgree(a, b), 5000);
  const seen = new Set<number>();
  let downs = 0;
  sim.run(400_000, 10, () => {
    const s = a.tunnels.get(a.linkTo(b, 'eth0'))?.current;
    if (s !== undefined) seen.add(s);
  });
  for (const n of [a, b]) downs += n.stateLog.filter((e) => e.to === 'down').length;
  t.true(seen.size >= 4, `sessions seen: ${seen.size}`);
  t.is(downs, 0);
  t.true(sessionsAgree(a, b));
});

test('a link cut for 40 s goes down, then renegotiates when it heals', (t) => {
  const sim = new ControlSim(10);
  const a = sim.add('a', 1, { eth0: ll(1) });
  const b = sim.add('b', 2, { eth0: ll(2) });
  a.start(0);
  b.start(0);
  sim.until(() => bothUp(a, b), 5000);
  sim.cut.add('eth0');
  sim.until(() => a.stateOf(b, 'eth0') === 'down' || a.stateOf(b, 'eth0') === 'negotiating', 40_000);
  sim.run(5000);
  sim.cut.delete('eth0');
  sim.until(() => bothUp(a, b) && sessionsAgree(a, b), 20_000);
  t.is(a.tunnels.size, 1);
});

test('a neighbour silent past the timeout is removed with its tunnel', (t) => {
  const sim = new ControlSim(11);
  const a = sim.add('a', 1, { eth0: ll(1) });
  const b = sim.add('b', 2, { eth0: ll(2) });
  a.start(0);
  b.start(0);
  sim.until(() => bothUp(a, b), 5000);
  b.alive = false;
  sim.until(() => a.core.links.size === 0, 120_000);
  t.is(a.tunnels.size, 0);
  t.true(a.events.some((e) => e.kind === 'closeTunnel'));
});

test('the neighbour table is bounded, and with more neighbours than room it settles on established links', (t) => {
  const sim = new ControlSim(12);
  sim.maxNeighbors = 2;
  const n = [1, 2, 3, 4].map((i) => sim.add(`n${i}`, i, { br: ll(i) }));
  for (const x of n) x.start(0);
  sim.run(10_000);
  const upLinks = () => n.map((x) => [...x.core.links.values()].filter((l) => l.state === 'up').map((l) => l.key));
  const settled = upLinks();
  // newcomers displaced never-completed links at first; established ones are kept, then newcomers are refused.
  // Which links win is a race (a triangle can leave the fourth node out); at least three pairs are up.
  t.true(settled.flat().length >= 6, `up links: ${settled.map((l) => l.length).join(',')}`);
  sim.run(20_000);
  const later = upLinks();
  for (const [i, x] of n.entries()) {
    t.true(x.core.links.size <= 2);
    for (const k of settled[i] ?? []) t.true(later[i]?.includes(k), `${x.name}: an established link was lost`);
  }
  t.true(n.some((x) => x.core.counters.displaced > 0));
  t.true(n.some((x) => x.core.counters.dropTableFull > 0));
});

test('a session that carried REKEY_AFTER_MESSAGES is replaced at once, whichever side sent them', (t) => {
  const sim = new ControlSim(13);
  const a = sim.add('a', 1, { eth0: ll(1) });
  const b = sim.add('b', 2, { eth0: ll(2) });
  a.start(0);
  b.start(0);
  sim.until(() => bothUp(a, b) && sessionsAgree(a, b), 5000);
  const first = a.tunnels.get(a.linkTo(b, 'eth0'))?.current;
  const lower = compareBytes(a.identity.publicKey, b.identity.publicKey) < 0 ? a : b;
  const responder = lower === a ? b : a;
  const tr = responder.tunnels.get(responder.linkTo(lower, 'eth0'));
  (tr?.core.current as { sendCounter: number }).sendCounter = REKEY_AFTER_MESSAGES;
  const took = sim.until(() => sessionsAgree(a, b) && a.tunnels.get(a.linkTo(b, 'eth0'))?.current !== first, 5000);
  t.true(took < 3000, `rekeyed ${took} ms after the count was reached (the age rekey is at 120 s)`);
  t.true(bothUp(a, b));
});

test('the tick comes every 250 ms while a link negotiates and at most once a second when all are up', (t) => {
  const sim = new ControlSim(41);
  const a = sim.add('a', 1, { eth0: ll(1) });
  const b = sim.add('b', 2, { eth0: ll(2) });
  a.start(0);
  t.is(a.core.nextTickInMs(sim.now), LIMITS.idleTickMs, 'alone, first hellos sent: nothing due for a second');
  b.start(0);
  sim.until(() => a.core.links.size > 0, 1000);
  t.not([...a.core.links.values()][0]?.state, 'up');
  t.is(a.core.nextTickInMs(sim.now), LIMITS.tickMs, 'a link being negotiated: every 250 ms');
  sim.until(() => bothUp(a, b), 5000);
  sim.run(200);
  const idle = a.core.nextTickInMs(sim.now);
  t.true(idle > LIMITS.tickMs && idle <= LIMITS.idleTickMs, `idle tick in ${idle} ms`);
});

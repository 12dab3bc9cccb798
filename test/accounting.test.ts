import test from 'ava';
import { AccountingBook, type AccountedTunnel } from '../src/accounting.js';
import { TunnelCounters } from '../dataplane/session.js';

function tunnel(pk: string): AccountedTunnel & { c: TunnelCounters } {
  const c = new TunnelCounters();
  return { tunnel: { core: { counters: c } } as unknown as AccountedTunnel['tunnel'], pk, family: 6, c };
}

test('folds deltas: nothing counted twice, nothing lost when a tunnel goes away, and a gone tunnel is forgotten', (t) => {
  const book = new AccountingBook(16);
  const a = tunnel('A');
  a.c.rxPackets = 10;
  a.c.rxBytes = 1000;
  book.fold(a);
  book.fold(a); // no change: no delta
  a.c.rxPackets = 15;
  a.c.rxBytes = 1500;
  book.fold(a, true); // the last fold, as the tunnel closes
  const first = book.read(false).neighbors.find((n) => n.publicKey === 'A');
  t.is(first?.rx.packets, 15);
  t.is(first?.rx.bytes, 1500);
  t.is(first?.rx.wireBytes, 15 * 48, 'outer IPv6+UDP headers per datagram');
  t.is(book.liveTunnels, 0, 'the closed tunnel is not kept');
  const again = tunnel('A'); // the neighbour comes back with a new tunnel: counters start at 0
  again.c.rxPackets = 2;
  book.fold(again);
  t.is(book.read(true).neighbors.find((n) => n.publicKey === 'A')?.rx.packets, 17);
  t.deepEqual(book.read(false).neighbors, [], 'reset');
});

test('at the key limit the least recently active departed key is merged into "evicted": attribution lost, bytes kept', (t) => {
  const book = new AccountingBook(3);
  const live = tunnel('L');
  live.c.txBytes = 5;
  book.fold(live);
  for (const pk of ['A', 'B', 'C', 'D']) {
    const x = tunnel(pk);
    x.c.txBytes = 100;
    x.c.txPackets = 1;
    book.fold(x, true);
  }
  const r = book.read(false);
  t.deepEqual(r.neighbors.map((n) => n.publicKey).sort(), ['C', 'D', 'L'], 'the live key stays; A and B went');
  t.is(r.evicted?.keys, 2);
  t.is(r.evicted?.tx.bytes, 200);
  const total = r.neighbors.reduce((s, n) => s + n.tx.bytes, 0) + (r.evicted?.tx.bytes ?? 0);
  t.is(total, 405, 'every byte still accounted for');
  t.is(book.read(true).evicted?.keys, 2);
  t.is(book.read(false).evicted, null, 'cleared by a read with reset');
});

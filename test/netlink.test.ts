import test from 'ava';
import fc from 'fast-check';
import { endianness } from 'node:os';
import { emptyChanges, parseNotifications } from '../dataplane/netlink.js';

const LE = endianness() === 'LE';

/** A netlink message: header (len, type, flags, seq, pid) and a body, padded to 4. */
function message(type: number, body: Uint8Array): Uint8Array {
  const len = 16 + body.length;
  const out = new Uint8Array((len + 3) & ~3);
  const v = new DataView(out.buffer);
  v.setUint32(0, len, LE);
  v.setUint16(4, type, LE);
  out.set(body, 16);
  return out;
}

function newLink(ifindex: number, name: string): Uint8Array {
  const nameBytes = Buffer.from(`${name}\0`, 'latin1');
  const alen = 4 + nameBytes.length;
  const body = new Uint8Array(16 + ((alen + 3) & ~3));
  const v = new DataView(body.buffer);
  v.setInt32(4, ifindex, LE);
  v.setUint16(16, alen, LE);
  v.setUint16(18, 3, LE); // IFLA_IFNAME
  body.set(nameBytes, 20);
  return message(16, body);
}

function newAddr(ifindex: number): Uint8Array {
  const body = new Uint8Array(8);
  new DataView(body.buffer).setUint32(4, ifindex, LE);
  return message(20, body);
}

test('link and address notifications name their interfaces', (t) => {
  const batch = Buffer.concat([newLink(7, 'va'), newAddr(9), message(24, new Uint8Array(12))]);
  const c = emptyChanges();
  parseNotifications(batch, 0, batch.length, c);
  t.deepEqual([...c.ifindexes].sort(), [7, 9]);
  t.deepEqual([...c.names], ['va']);
  t.true(c.addresses);
  t.false(c.lost);
});

test('an empty entry (the kernel dropped notifications) and a bad length both mean "re-read everything"', (t) => {
  const c = emptyChanges();
  parseNotifications(new Uint8Array(64), 0, 0, c);
  t.true(c.lost);
  const bad = newLink(3, 'vb');
  new DataView(bad.buffer).setUint32(0, bad.length + 100, LE);
  const d = emptyChanges();
  parseNotifications(bad, 0, bad.length, d);
  t.true(d.lost);
  t.is(d.names.size, 0);
});

test('fuzz: random bytes never throw and never read outside the range', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(40), (bytes, pad) => {
        // the range sits inside a larger buffer: bytes outside it must not matter
        const buf = new Uint8Array(pad + bytes.length + pad).fill(0xff);
        buf.set(bytes, pad);
        const c = emptyChanges();
        parseNotifications(buf, pad, bytes.length, c);
        const alone = emptyChanges();
        parseNotifications(Uint8Array.from(bytes), 0, bytes.length, alone);
        return (
          JSON.stringify([[...c.ifindexes], [...c.names], c.addresses, c.lost]) ===
          JSON.stringify([[...alone.ifindexes], [...alone.names], alone.addresses, alone.lost])
        );
      }),
      { numRuns: 2000 },
    ),
  );
});

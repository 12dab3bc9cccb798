/**
 * The control socket's read coalescing (src/control/socket.ts) on a real
 * loopback UDP socket (no root): a lone message is read at once, a message
 * soon after another starts a pause, what arrives during it is read in one
 * batch when it ends, nothing is lost, and a flood (full batches) never
 * pauses. The assertions follow the socket's state, not the clock: the pause
 * is long (1 s) so that a loaded machine cannot end it before the test looks.
 */
import test from 'ava';
import dgram from 'node:dgram';
import { NATIVE } from '../base/constants.js';
import { ControlSocket, type Received } from '../src/control/socket.js';

const COALESCE_MS = 1000;

interface Harness {
  sock: ControlSocket;
  got: string[];
  batches: number[];
  send: (texts: string[]) => Promise<void>;
  close: () => void;
}

async function harness(coalesceMs: number): Promise<Harness> {
  const got: string[] = [];
  const batches: number[] = [];
  let inBatch = 0;
  const sock = new ControlSocket(
    0,
    {
      datagram: (r: Received) => {
        inBatch++;
        got.push(Buffer.from(r.bytes).toString('latin1'));
      },
      batchEnd: () => {
        batches.push(inBatch);
        inBatch = 0;
      },
      failure: (e) => {
        throw e;
      },
    },
    coalesceMs,
  );
  const out = dgram.createSocket('udp6');
  await new Promise<void>((r) => out.bind(0, '::1', r));
  // every send is issued before the first completes: libuv sends at once, so all are queued in the kernel together
  const send = (texts: string[]) =>
    Promise.all(
      texts.map((t) => new Promise<void>((r, j) => out.send(t, sock.port, '::1', (e) => (e ? j(e) : r())))),
    ).then(() => undefined);
  return {
    sock,
    got,
    batches,
    send,
    close: () => {
      sock.close();
      out.close();
    },
  };
}

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('a lone message is read at once; one soon after it starts a pause; what waited is read in one batch', async (t) => {
  const h = await harness(COALESCE_MS);
  try {
    await h.send(['one']);
    await until('the first message', () => h.got.length === 1);
    t.false(h.sock.paused, 'a lone message does not pause reading');
    await h.send(['two']);
    await until('the second message', () => h.got.length === 2);
    t.true(h.sock.paused, 'a read soon after the last one pauses');
    t.is(h.sock.coalescedPauses, 1);
    await h.send(['three', 'four', 'five']);
    t.is(h.got.length, 2, 'nothing is read during the pause');
    await until('the messages that waited', () => h.got.length === 5);
    t.deepEqual(h.got, ['one', 'two', 'three', 'four', 'five']);
    t.is(h.batches.at(-1), 3, 'what waited was read in one batch');
    t.true(h.sock.paused, 'a pause that ended with messages waiting is followed by another');
    // that one ends with nothing waiting: the socket is armed again, and a lone message is read at once
    await until('the end of the pauses', () => !h.sock.paused);
    const pauses = h.sock.coalescedPauses;
    await h.send(['six']);
    await until('a lone message after quiet', () => h.got.length === 6);
    t.false(h.sock.paused);
    t.is(h.sock.coalescedPauses, pauses);
  } finally {
    h.close();
  }
});

test('full batches never pause: a burst is read to its end at once', async (t) => {
  const h = await harness(COALESCE_MS);
  try {
    const texts = Array.from({ length: NATIVE.controlBatch * 4 }, (_, i) => `m${i}`);
    await h.send(texts);
    await until('the whole burst', () => h.got.length === texts.length);
    t.deepEqual(h.got, texts);
    t.is(h.sock.coalescedPauses, 0, `batches: ${h.batches.join(' ')}`);
  } finally {
    h.close();
  }
});

test('with coalesceMs 0 every message is read at once', async (t) => {
  const h = await harness(0);
  try {
    for (const m of ['a', 'b', 'c']) {
      await h.send([m]);
      await until(m, () => h.got.includes(m));
      t.false(h.sock.paused);
    }
    t.is(h.sock.coalescedPauses, 0);
  } finally {
    h.close();
  }
});

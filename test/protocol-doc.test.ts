/** doc/PROTOCOL.md's worked examples, recomputed: the document and the code must agree. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { deriveSessionKeys, identityFromSeed, tunnelKeyPair } from '../crypto/index.js';
import { Session, TunnelCore } from '../dataplane/session.js';
import {
  BROADCAST_KEY,
  decodeControlMessage,
  encodeControlMessage,
  verifyControlMessage,
} from '../src/control/messages.js';
import { defaultTestBackend } from './helpers/backends.js';

const doc = readFileSync(fileURLToPath(new URL('../../doc/PROTOCOL.md', import.meta.url)), 'utf8');
const backend = defaultTestBackend();

function example(name: string): string {
  const m = new RegExp(`<!-- example:${name} -->\\s*\`\`\`\\n([\\s\\S]*?)\\n\`\`\``).exec(doc);
  if (!m) throw new Error(`no example ${name} in doc/PROTOCOL.md`);
  return m[1] as string;
}

const alice = identityFromSeed(backend, new Uint8Array(32).fill(1));
const bob = identityFromSeed(backend, new Uint8Array(32).fill(2));
const ta = tunnelKeyPair(backend, new Uint8Array(32).fill(0x0a));
const tb = tunnelKeyPair(backend, new Uint8Array(32).fill(0x0b));

test('the hello example', (t) => {
  const text = encodeControlMessage({ type: 'scrooge_hello', dstPK: BROADCAST_KEY, seq: 1795320000000000n }, alice);
  t.is(example('hello'), text);
  t.true(verifyControlMessage(backend, decodeControlMessage(text)));
});

test('the tunnel example', (t) => {
  const text = encodeControlMessage(
    {
      type: 'scrooge_tunnel',
      dstPK: bob.publicKey,
      seq: 1795320000000001n,
      tunnelPK: ta.publicKey,
      endpoint: { host: 'fe80::1', port: 40000, family: 6 },
    },
    alice,
  );
  t.is(example('tunnel'), text);
});

test('the session-key example', (t) => {
  const k = deriveSessionKeys(backend, ta, tb.publicKey);
  t.is(
    example('keys'),
    `send key   ${Buffer.from(k.sendKey).toString('hex')}\nrecv key   ${Buffer.from(k.recvKey).toString('hex')}\nsession id ${k.sessionId} (0x${k.sessionId.toString(16)})`,
  );
});

test('the data-packet example', (t) => {
  const core = new TunnelCore(backend);
  // the example is a session's packet with counter 0 (a proven session, as after the probe and ack)
  core.current = new Session(deriveSessionKeys(backend, ta, tb.publicKey), 0);
  const payload = Buffer.from('4500001c000040004001f95c0a2a00020a2a0001080052f3000a0001', 'hex');
  const buf = new Uint8Array(16 + payload.length + 16);
  buf.set(payload, 16);
  const n = core.seal(buf, 0, payload.length, 0);
  const hex = Buffer.from(buf.subarray(0, n)).toString('hex');
  const spaced = `${hex.slice(0, 8)} ${hex.slice(8, 16)} ${hex.slice(16, 32)} ${hex.slice(32, 32 + 56)} ${hex.slice(88)}`;
  t.is(example('packet'), spaced);
});

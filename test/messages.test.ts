import test from 'ava';
import { PROTOCOL } from '../base/constants.js';
import fc from 'fast-check';
import { identityFromSeed, toBase64 } from '../crypto/index.js';
import { isScroogeError } from '../base/errors.js';
import {
  BROADCAST_KEY,
  type ControlFields,
  type ControlMessage,
  decodeControlMessage,
  encodeControlMessage,
  formatUnsigned,
  parseEndpoint,
  verifyControlMessage,
} from '../src/control/messages.js';
import { defaultTestBackend, prng } from './helpers/backends.js';

const backend = defaultTestBackend();
const alice = identityFromSeed(backend, new Uint8Array(32).fill(1));
const bob = identityFromSeed(backend, new Uint8Array(32).fill(2));
const tunnelPK = new Uint8Array(32).fill(9);

const samples: ControlFields[] = [
  { type: 'scrooge_hello', dstPK: BROADCAST_KEY, seq: 1n },
  { type: 'scrooge_hello_confirm', dstPK: bob.publicKey, seq: 18446744073709551615n },
  {
    type: 'scrooge_tunnel',
    dstPK: bob.publicKey,
    seq: 0n,
    tunnelPK,
    endpoint: { host: 'fe80::1', port: 40000, family: 6 },
  },
  {
    type: 'scrooge_tunnel_confirm',
    dstPK: bob.publicKey,
    seq: 1732000000000000n,
    tunnelPK,
    endpoint: { host: '10.0.0.1', port: 1, family: 4 },
  },
];

function reencode(m: ControlMessage): string {
  const fields: ControlFields =
    m.type === 'scrooge_tunnel' || m.type === 'scrooge_tunnel_confirm'
      ? { type: m.type, dstPK: m.dstPK, seq: m.seq, tunnelPK: m.tunnelPK, endpoint: m.endpoint }
      : { type: m.type, dstPK: m.dstPK, seq: m.seq };
  return `${formatUnsigned(m.srcPK, fields)} ${toBase64(m.signature)}`;
}

test('encode → decode round trip, signature verifies, fields survive', (t) => {
  for (const f of samples) {
    const text = encodeControlMessage(f, alice);
    t.false(text.endsWith('\n'));
    t.true(text.length <= PROTOCOL.maxControlMessageBytes);
    const m = decodeControlMessage(text);
    t.is(m.type, f.type);
    t.deepEqual(m.srcPK, alice.publicKey);
    t.deepEqual(m.dstPK, f.dstPK);
    t.is(m.seq, f.seq);
    if ('tunnelPK' in f && (m.type === 'scrooge_tunnel' || m.type === 'scrooge_tunnel_confirm')) {
      t.deepEqual(m.tunnelPK, f.tunnelPK);
      t.deepEqual(m.endpoint, f.endpoint);
    }
    t.true(verifyControlMessage(backend, m));
    t.is(reencode(m), text);
    t.deepEqual(decodeControlMessage(Buffer.from(text)), m, 'bytes and string inputs decode alike');
  }
});

test('exact wire layout: fields in order, signature over the text before " <sig>"', (t) => {
  const f = samples[2] as ControlFields;
  const text = encodeControlMessage(f, alice);
  const parts = text.split(' ');
  t.deepEqual(parts.slice(0, 6), [
    'scrooge_tunnel',
    alice.publicKeyBase64,
    toBase64(bob.publicKey),
    toBase64(tunnelPK),
    '[fe80::1]:40000',
    '0',
  ]);
  const signed = text.slice(0, text.lastIndexOf(' '));
  t.true(backend.ed25519Verify(Buffer.from(parts[6] as string, 'base64'), Buffer.from(signed), alice.publicKey));
  t.is(
    encodeControlMessage(samples[0] as ControlFields, alice).split(' ')[2],
    'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=',
  );
});

test('a signature by someone else, or over changed bytes, does not verify', (t) => {
  const text = encodeControlMessage(samples[1] as ControlFields, alice);
  const m = decodeControlMessage(text);
  t.true(verifyControlMessage(backend, m));
  const forged = `${text.slice(0, text.lastIndexOf(' '))} ${toBase64(bob.sign(m.signed))}`;
  t.false(verifyControlMessage(backend, decodeControlMessage(forged)));
  const bumped = text.replace(' 18446744073709551615 ', ' 18446744073709551614 ');
  t.false(verifyControlMessage(backend, decodeControlMessage(bumped)));
});

function code(input: string | Uint8Array): string {
  try {
    decodeControlMessage(input);
  } catch (e) {
    if (isScroogeError(e)) return e.code;
    throw e;
  }
  return 'OK';
}

test('every kind of malformed message gets its own stable code', (t) => {
  const good = encodeControlMessage(samples[2] as ControlFields, alice);
  const hello = encodeControlMessage(samples[0] as ControlFields, alice);
  const parts = good.split(' ');
  const with_ = (i: number, v: string) => parts.map((p, j) => (j === i ? v : p)).join(' ');
  const cases: Array<[string | Uint8Array, string]> = [
    ['', 'ERR_MSG_EMPTY'],
    ['x'.repeat(513), 'ERR_MSG_TOO_LONG'],
    [new Uint8Array(513).fill(65), 'ERR_MSG_TOO_LONG'],
    [`${hello}\n`, 'ERR_MSG_CHARSET'],
    [hello.replace(' ', '\t'), 'ERR_MSG_CHARSET'],
    [`${hello.slice(0, 20)}é${hello.slice(21)}`, 'ERR_MSG_CHARSET'],
    [new Uint8Array([0x73, 0, 0x20]), 'ERR_MSG_CHARSET'],
    [hello.replace('scrooge_hello', 'scrooge_howdy'), 'ERR_MSG_TYPE'],
    [hello.replace('scrooge_hello', 'SCROOGE_HELLO'), 'ERR_MSG_TYPE'],
    [hello.replace(' ', '  '), 'ERR_MSG_EMPTY_FIELD'],
    [` ${hello}`, 'ERR_MSG_TYPE'],
    [`${hello} `, 'ERR_MSG_EMPTY_FIELD'],
    [`${hello} extra`, 'ERR_MSG_FIELD_COUNT'],
    [hello.split(' ').slice(0, 4).join(' '), 'ERR_MSG_FIELD_COUNT'],
    [good.replace('scrooge_tunnel', 'scrooge_hello'), 'ERR_MSG_FIELD_COUNT'],
    [with_(1, 'AAAA'), 'ERR_MSG_KEY'],
    [with_(1, `${(parts[1] as string).slice(0, 43)}`), 'ERR_MSG_KEY'],
    [with_(1, `${(parts[1] as string).slice(0, 42)}B=`), 'ERR_MSG_KEY'], // non-zero trailing bits
    [with_(2, `${'_'.repeat(43)}=`), 'ERR_MSG_KEY'],
    [with_(2, 'A'.repeat(44)), 'ERR_MSG_KEY'],
    [with_(3, 'A'.repeat(43)), 'ERR_MSG_KEY'],
    [with_(4, 'fe80::1:40000'), 'ERR_MSG_ENDPOINT'],
    [with_(4, '[fe80::1%eth0]:40000'), 'ERR_MSG_ENDPOINT'],
    [with_(4, '[fe80::1]:0'), 'ERR_MSG_ENDPOINT'],
    [with_(4, '[fe80::1]:65536'), 'ERR_MSG_ENDPOINT'],
    [with_(4, '[fe80::1]:080'), 'ERR_MSG_ENDPOINT'],
    [with_(4, '[fe80::1]'), 'ERR_MSG_ENDPOINT'],
    [with_(4, '10.0.0.256:1'), 'ERR_MSG_ENDPOINT'],
    [with_(4, '010.0.0.1:1'), 'ERR_MSG_ENDPOINT'],
    [with_(4, 'example.com:80'), 'ERR_MSG_ENDPOINT'],
    [with_(5, '-1'), 'ERR_MSG_SEQ'],
    [with_(5, '01'), 'ERR_MSG_SEQ'],
    [with_(5, '+1'), 'ERR_MSG_SEQ'],
    [with_(5, '1e3'), 'ERR_MSG_SEQ'],
    [with_(5, '18446744073709551616'), 'ERR_MSG_SEQ'],
    [with_(5, '99999999999999999999'), 'ERR_MSG_SEQ'],
    [with_(5, '123456789012345678901'), 'ERR_MSG_SEQ'],
    [with_(6, 'A'.repeat(88)), 'ERR_MSG_SIGNATURE_FORMAT'],
    [with_(6, (parts[6] as string).slice(1)), 'ERR_MSG_SIGNATURE_FORMAT'],
  ];
  for (const [input, expected] of cases) {
    t.is(code(input), expected, typeof input === 'string' ? input.slice(0, 80) : `bytes(${input.length})`);
  }
  t.is(code(with_(5, '18446744073709551615')), 'OK');
});

test('endpoint parser accepts exactly [ipv6]:port and ipv4:port', (t) => {
  t.deepEqual(parseEndpoint('[::1]:8481'), { host: '::1', port: 8481, family: 6 });
  t.deepEqual(parseEndpoint('192.0.2.1:65535'), { host: '192.0.2.1', port: 65535, family: 4 });
  t.deepEqual(parseEndpoint('[::ffff:192.0.2.1]:1'), { host: '::ffff:192.0.2.1', port: 1, family: 6 });
});

// --- fuzz: 100 000 random and mutated inputs -------------------------------------------------

function checkDecoderContract(input: string | Uint8Array): string | undefined {
  try {
    const m = decodeControlMessage(input);
    // Strictness means canonical: anything accepted re-encodes to the same bytes.
    const text = typeof input === 'string' ? input : Buffer.from(input).toString('latin1');
    if (reencode(m) !== text) return `accepted a non-canonical message: ${JSON.stringify(text)}`;
    return undefined;
  } catch (e) {
    if (isScroogeError(e) && e.code.startsWith('ERR_MSG_')) return undefined;
    return `decoder threw something else for ${JSON.stringify(input)}: ${String(e)}`;
  }
}

test('fuzz: 60 000 mutated valid messages never escape the typed error', (t) => {
  const r = prng(0xf022);
  const seeds = samples.map((f) => encodeControlMessage(f, alice));
  const alphabet = ' +/=[]:.%0123456789ABCDEFabcdef_scrooge\n\u0000\u00ff';
  let failure: string | undefined;
  for (let i = 0; i < 60_000 && failure === undefined; i++) {
    let s = seeds[r.int(seeds.length)] as string;
    const edits = 1 + r.int(4);
    for (let e = 0; e < edits; e++) {
      const at = r.int(s.length + 1);
      const ch = alphabet[r.int(alphabet.length)] as string;
      switch (r.int(6)) {
        case 0: // replace a char
          s = s.slice(0, at) + ch + s.slice(at + 1);
          break;
        case 1: // insert
          s = s.slice(0, at) + ch + s.slice(at);
          break;
        case 2: // delete
          s = s.slice(0, at) + s.slice(at + 1);
          break;
        case 3: // truncate
          s = s.slice(0, at);
          break;
        case 4: {
          // swap two fields
          const p = s.split(' ');
          const a = r.int(p.length);
          const b = r.int(p.length);
          [p[a], p[b]] = [p[b] as string, p[a] as string];
          s = p.join(' ');
          break;
        }
        default:
          {
            // duplicate a field
            const p = s.split(' ');
            p.splice(r.int(p.length), 0, p[r.int(p.length)] as string);
            s = p.join(' ');
          }
          break;
      }
    }
    failure = checkDecoderContract(r.int(2) === 0 ? s : Buffer.from(s, 'latin1'));
  }
  t.is(failure, undefined);
});

test('fuzz: 40 000 random byte strings and structured random messages never escape the typed error', (t) => {
  const field = fc.oneof(
    fc.constantFrom('scrooge_hello', 'scrooge_hello_confirm', 'scrooge_tunnel', 'scrooge_tunnel_confirm'),
    fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('base64')),
    fc.uint8Array({ minLength: 64, maxLength: 64 }).map((b) => Buffer.from(b).toString('base64')),
    fc.bigInt({ min: 0n, max: 1n << 66n }).map(String),
    fc.string({ maxLength: 50 }),
    fc.constantFrom('[fe80::1]:1', '1.2.3.4:5', '[::]:65535', '[]:1', ':1', '1.2.3.4:'),
  );
  let failure: string | undefined;
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 600 }),
        fc.array(field, { minLength: 1, maxLength: 8 }).map((fs) => fs.join(' ')),
        fc.string({ maxLength: 600 }),
      ),
      (input) => {
        failure ??= checkDecoderContract(input);
        return failure === undefined;
      },
    ),
    { numRuns: 40_000, seed: 0x5c0 },
  );
  t.is(failure, undefined);
});

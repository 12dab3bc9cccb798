import test from 'ava';
import { isScroogeError } from '../base/errors.js';
import { parseSetRequest } from '../src/admin.js';

const KEY = Buffer.alloc(32, 7).toString('base64');

test('set requests: each setting parsed to its value', (t) => {
  t.deepEqual(parseSetRequest({ weight: { key: KEY, value: 3 } }), { kind: 'weight', key: KEY, weight: 3 });
  t.deepEqual(parseSetRequest({ rate: { key: KEY, value: '20mbit' } }), { kind: 'rate', key: KEY, rate: 20e6 });
  t.deepEqual(parseSetRequest({ rate: { key: KEY, value: 'none' } }), { kind: 'rate', key: KEY, rate: undefined });
  t.deepEqual(parseSetRequest({ share: 0.5 }), { kind: 'share', share: 0.5 });
  t.deepEqual(parseSetRequest({ capacity: null }), { kind: 'capacity', capacity: undefined });
  t.deepEqual(parseSetRequest({ scheduler: 'wtb-drr' }), { kind: 'scheduler', scheduler: 'wtb-drr' });
});

test('bad set requests: one ERR_API_REQUEST naming the setting and the reason', (t) => {
  const cases: Array<[unknown, RegExp]> = [
    ['x', /expected a JSON object/],
    [null, /expected a JSON object/],
    [{}, /exactly one of/],
    [{ share: 0.5, capacity: null }, /exactly one of/],
    [{ weight: 3 }, /weight: expected \{"key"/],
    [{ weight: { key: 'nope', value: 3 } }, /weight: "nope" is not a public key/],
    [{ weight: { key: KEY, value: -1 } }, /^weight: /],
    [{ rate: { key: KEY, value: 'fast' } }, /^rate: /],
    [{ share: 2 }, /^share: /],
    [{ scheduler: 'fifo-of-doom' }, /scheduler: "fifo-of-doom" is not one of/],
    [{ colour: 'red' }, /unknown setting "colour"/],
  ];
  for (const [body, re] of cases) {
    const e = t.throws(() => parseSetRequest(body));
    t.true(isScroogeError(e, 'ERR_API_REQUEST'), JSON.stringify(body));
    t.regex(e?.message ?? '', re, JSON.stringify(body));
  }
});

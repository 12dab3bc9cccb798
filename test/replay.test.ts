import test from 'ava';
import { COUNTER_ACCEPT_LIMIT, REPLAY_WINDOW, ReplayWindow } from '../crypto/replay.js';

test('window is at least 8128 packets (DESIGN.md)', (t) => {
  t.true(REPLAY_WINDOW >= 8128);
});

// The 34 numbered cases of the Linux WireGuard counter selftest
// (drivers/net/wireguard/selftest/counter.c, also wireguard-go replay_test.go),
// with our window size and reject limit.
test('WireGuard counter selftest: 34 numbered cases', (t) => {
  const f = new ReplayWindow();
  const T_LIM = REPLAY_WINDOW + 1;
  const R = COUNTER_ACCEPT_LIMIT;
  const cases: Array<[number, boolean]> = [
    [0, true], //  1
    [1, true], //  2
    [1, false], //  3
    [9, true], //  4
    [8, true], //  5
    [7, true], //  6
    [7, false], //  7
    [T_LIM, true], //  8
    [T_LIM - 1, true], //  9
    [T_LIM - 1, false], // 10
    [T_LIM - 2, true], // 11
    [2, true], // 12
    [2, false], // 13
    [T_LIM + 16, true], // 14
    [3, false], // 15
    [T_LIM + 16, false], // 16
    [T_LIM * 4, true], // 17
    [T_LIM * 4 - (T_LIM - 1), true], // 18
    [10, false], // 19
    [T_LIM * 4 - T_LIM, false], // 20
    [T_LIM * 4 - (T_LIM + 1), false], // 21
    [T_LIM * 4 - (T_LIM - 2), true], // 22
    [T_LIM * 4 + 1 - T_LIM, false], // 23
    [0, false], // 24
    [R, false], // 25
    [R - 1, true], // 26
    [R, false], // 27
    [R - 1, false], // 28
    [R - 2, true], // 29
    [R + 1, false], // 30
    [R + 2, false], // 31
    [R - 2, false], // 32
    [R - 3, true], // 33
    [0, false], // 34
  ];
  t.is(cases.length, 34);
  cases.forEach(([n, expected], i) => {
    t.is(f.validate(n), expected, `case ${i + 1}: counter ${n}`);
  });
});

test('window-edge bulk loops (selftest bulk tests 1-6)', (t) => {
  const W = REPLAY_WINDOW;
  let f = new ReplayWindow();
  for (let i = 1; i <= W; i++) t.true(f.validate(i), `bulk1 ${i}`);
  t.true(f.validate(0));
  t.false(f.validate(0));

  f = new ReplayWindow();
  for (let i = 2; i <= W + 1; i++) t.true(f.validate(i), `bulk2 ${i}`);
  t.true(f.validate(1));
  t.false(f.validate(0));

  f = new ReplayWindow();
  for (let i = W + 1; i > 0; i--) t.true(f.validate(i), `bulk3 ${i}`);

  f = new ReplayWindow();
  for (let i = W + 2; i > 1; i--) t.true(f.validate(i), `bulk4 ${i}`);
  t.false(f.validate(0));

  f = new ReplayWindow();
  for (let i = W; i > 0; i--) t.true(f.validate(i), `bulk5 ${i}`);
  t.true(f.validate(W + 1));
  t.false(f.validate(0));

  f = new ReplayWindow();
  for (let i = W; i > 0; i--) t.true(f.validate(i), `bulk6 ${i}`);
  t.true(f.validate(0));
  t.true(f.validate(W + 1));
});

test('check does not mark; accept marks (mark only after the tag verifies)', (t) => {
  const f = new ReplayWindow();
  t.true(f.check(5));
  t.true(f.check(5), 'a failed decrypt leaves the counter usable');
  t.true(f.accept(5));
  t.false(f.check(5));
  t.false(f.accept(5));
  t.is(f.highest, 5);
});

test('rejects non-integers, negatives, and counters at the limit', (t) => {
  const f = new ReplayWindow();
  for (const n of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, COUNTER_ACCEPT_LIMIT, 2 ** 60]) {
    t.false(f.check(n), String(n));
    t.false(f.accept(n), String(n));
  }
});

test('random reordering within the window agrees with a Set-based reference', (t) => {
  let s = 12345;
  const rnd = (m: number) => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s % m;
  };
  const f = new ReplayWindow();
  const seen = new Set<number>();
  let top = 0;
  let mismatch = '';
  for (let i = 0; i < 200_000 && mismatch === ''; i++) {
    const n = rnd(10) < 3 ? top + 1 + rnd(100) : Math.max(0, top - rnd(REPLAY_WINDOW + 200));
    const expected = !seen.has(n) && top - n <= REPLAY_WINDOW;
    const got = f.validate(n);
    if (got !== expected) mismatch = `step ${i}: n=${n} top=${top} expected ${expected}`;
    if (got) {
      seen.add(n);
      if (n > top) top = n;
    }
  }
  t.is(mismatch, '');
});

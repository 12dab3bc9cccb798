import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { isScroogeError } from '../base/errors.js';
import { SEQ_RESERVE_BLOCK, SeqSource, type SeqStore } from '../src/control/seq.js';
import { fileSeqStore } from '../src/state.js';

function memoryStore(): SeqStore & { saves: bigint[]; value: bigint | undefined } {
  const s = {
    value: undefined as bigint | undefined,
    saves: [] as bigint[],
    load: () => s.value,
    save: (c: bigint) => {
      s.value = c;
      s.saves.push(c);
    },
  };
  return s;
}

const US_PER_YEAR = 365n * 24n * 3600n * 1_000_000n;
const NOW = 1_795_000_000_000_000n; // late 2026, µs

test('strictly increasing while the clock stands still, jumps back, or runs', (t) => {
  const store = memoryStore();
  const src = new SeqSource(store);
  let last = -1n;
  const clocks = [NOW, NOW, NOW, NOW - 5_000_000n, NOW + 1n, NOW - US_PER_YEAR, NOW + 10_000_000n, 0n];
  for (const c of clocks) {
    const s = src.next(c);
    t.true(s > last, `${s} > ${last}`);
    last = s;
  }
  t.true(last >= NOW + 10_000_000n, 'uses the clock when it is larger');
});

test('every seq handed out is below the persisted ceiling', (t) => {
  const store = memoryStore();
  const src = new SeqSource(store);
  for (let i = 0; i < 1000; i++) {
    const s = src.next(NOW + BigInt(i) * 1000n);
    t.true(store.value !== undefined && s < store.value);
  }
  t.is(store.saves.length, 1, 'one write covers a block of clock time');
});

test('restart with the clock set back a year: seqs keep increasing', (t) => {
  const store = memoryStore();
  let src = new SeqSource(store);
  let last = 0n;
  for (let i = 0; i < 10; i++) last = src.next(NOW + BigInt(i));
  // crash and reboot without an RTC: the clock is a year behind
  src = new SeqSource(store);
  const after = src.next(NOW - US_PER_YEAR);
  t.true(after > last);
  // and a second restart while the clock is still wrong
  const last2 = src.next(NOW - US_PER_YEAR + 1n);
  src = new SeqSource(store);
  t.true(src.next(NOW - US_PER_YEAR + 2n) > last2);
});

test('crossing the reserved block persists a new ceiling before handing out', (t) => {
  const store = memoryStore();
  const src = new SeqSource(store, 10n);
  const got: bigint[] = [];
  for (let i = 0; i < 25; i++) got.push(src.next(0n));
  t.deepEqual(got.slice(0, 3), [0n, 1n, 2n]);
  t.deepEqual(store.saves, [10n, 20n, 30n]);
  for (const s of got) t.true(s < 30n);
});

test('a failing store means no seq is handed out', (t) => {
  const src = new SeqSource({
    load: () => undefined,
    save: () => {
      throw new Error('disk full');
    },
  });
  t.throws(() => src.next(NOW), { message: 'disk full' });
});

test('file store: round trip, atomic file, corrupt file is a clear error', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'scrooge-seq-'));
  try {
    const store = fileSeqStore(dir);
    t.is(store.load(), undefined);
    const src = new SeqSource(store);
    const s = src.next(NOW);
    t.is(readFileSync(join(dir, 'seq'), 'utf8'), `${NOW + SEQ_RESERVE_BLOCK}\n`);
    const again = new SeqSource(fileSeqStore(dir));
    t.true(again.next(0n) > s);
    writeFileSync(join(dir, 'seq'), 'garbage\n');
    const err = t.throws(() => fileSeqStore(dir).load());
    t.true(isScroogeError(err, 'ERR_SEQ_STATE'));
    t.regex(err.message, /seq is corrupt/);
    chmodSync(dir, 0o700);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

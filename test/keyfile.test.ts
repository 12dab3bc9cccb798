import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { formatKeyFile, identityFromSeed, parseKeyFile } from '../crypto/index.js';
import { isScroogeError } from '../base/errors.js';
import { loadIdentityWith, loadOrCreateIdentity, writeKeyFile } from '../src/keyfile.js';
import { defaultTestBackend } from './helpers/backends.js';

const backend = defaultTestBackend();

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'scrooge-key-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('key file: base64 seed plus newline, created 0600, loads back to the same key', (t) => {
  withDir((dir) => {
    const path = join(dir, 'key');
    const { identity, created } = loadOrCreateIdentity(backend, path);
    t.true(created);
    t.is(statSync(path).mode & 0o777, 0o600);
    const text = readFileSync(path, 'latin1');
    t.regex(text, /^[A-Za-z0-9+/]{43}=\n$/);
    t.is(loadIdentityWith(backend, path).publicKeyBase64, identity.publicKeyBase64);
    const again = loadOrCreateIdentity(backend, path);
    t.false(again.created);
    t.is(again.identity.publicKeyBase64, identity.publicKeyBase64);
  });
});

test('refuses a key file group or others can read, naming the file and the fix', (t) => {
  withDir((dir) => {
    const path = join(dir, 'key');
    writeKeyFile(path, new Uint8Array(32).fill(3));
    for (const mode of [0o640, 0o604, 0o644]) {
      chmodSync(path, mode);
      const err = t.throws(() => loadIdentityWith(backend, path));
      t.true(isScroogeError(err, 'ERR_KEY_FILE_PERMISSIONS'));
      t.true(err.message.includes(path));
      t.true(err.message.includes(`chmod 600 ${path}`));
    }
    chmodSync(path, 0o400);
    t.notThrows(() => loadIdentityWith(backend, path));
  });
});

test('missing, malformed and existing files give clear errors', (t) => {
  withDir((dir) => {
    const missing = join(dir, 'nope');
    const e1 = t.throws(() => loadIdentityWith(backend, missing));
    t.true(isScroogeError(e1, 'ERR_KEY_FILE_MISSING'));
    t.regex(e1.message, /scrooge keygen --out/);
    const bad = join(dir, 'bad');
    writeFileSync(bad, 'not a key\n', { mode: 0o600 });
    t.true(
      isScroogeError(
        t.throws(() => loadIdentityWith(backend, bad)),
        'ERR_KEY_FILE_FORMAT',
      ),
    );
    const exists = join(dir, 'exists');
    writeKeyFile(exists, new Uint8Array(32));
    t.true(
      isScroogeError(
        t.throws(() => writeKeyFile(exists, new Uint8Array(32))),
        'ERR_KEY_FILE_IO',
      ),
    );
  });
});

test('key file parser: exact format', (t) => {
  const seed = new Uint8Array(32).fill(7);
  const text = formatKeyFile(seed);
  t.deepEqual(parseKeyFile(text), seed);
  t.deepEqual(parseKeyFile(text.trimEnd()), seed, 'missing final newline is fine');
  t.deepEqual(parseKeyFile(`${text.trimEnd()}\r\n`), seed);
  for (const bad of [`${text}\n`, ` ${text}`, text.slice(1), `${text.trimEnd()}==\n`, '']) {
    t.true(
      isScroogeError(
        t.throws(() => parseKeyFile(bad)),
        'ERR_KEY_FILE_FORMAT',
      ),
      JSON.stringify(bad),
    );
  }
});

test('overwriting (keygen --force) leaves a 0600 file even where the old one was 0644', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'scrooge-key-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'node.key');
  writeFileSync(path, 'old\n', { mode: 0o644 });
  chmodSync(path, 0o644);
  const seed = new Uint8Array(32).fill(7);
  writeKeyFile(path, seed, true);
  t.is(statSync(path).mode & 0o777, 0o600);
  t.deepEqual(loadIdentityWith(backend, path).publicKey, identityFromSeed(backend, seed).publicKey);
});

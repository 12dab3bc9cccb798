/**
 * Identity key files: base64 of the 32-byte seed plus a newline, mode 0600.
 * Loading refuses a file that group or others can read.
 */
import { isScroogeError } from '../base/errors.js';
import { ControlError } from './errors.js';
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { writeFileAtomic } from './state.js';
import { type CryptoBackend, formatKeyFile, type Identity, identityFromSeed, parseKeyFile } from '../crypto/index.js';

/** A fresh identity from the OS RNG. */
export function generateIdentityWith(backend: CryptoBackend): Identity {
  return identityFromSeed(backend, new Uint8Array(randomBytes(32)));
}

/**
 * Writes a new key file (mode 0600). Refuses to overwrite unless `overwrite`;
 * an overwrite writes a fresh 0600 file and renames it over the old one, so
 * neither the old file's mode (0644, say) nor a half-written key survives.
 */
export function writeKeyFile(path: string, seed: Uint8Array, overwrite = false): void {
  if (overwrite) {
    try {
      writeFileAtomic(path, formatKeyFile(seed), 0o600);
    } catch (e) {
      throw new ControlError('ERR_KEY_FILE_IO', `cannot write key file ${path}: ${(e as Error).message}`, { cause: e });
    }
    return;
  }
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EEXIST') {
      throw new ControlError(
        'ERR_KEY_FILE_IO',
        `${path} already exists; refusing to overwrite an identity (use --force)`,
      );
    }
    throw new ControlError('ERR_KEY_FILE_IO', `cannot create key file ${path}: ${err.message}`, { cause: e });
  }
  try {
    writeSync(fd, formatKeyFile(seed));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Loads an identity, refusing key files readable by group or others. */
export function loadIdentityWith(backend: CryptoBackend, path: string): Identity {
  let mode: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new ControlError('ERR_KEY_FILE_IO', `key file ${path} is not a regular file`);
    mode = st.mode & 0o777;
  } catch (e) {
    if (isScroogeError(e)) throw e;
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') {
      throw new ControlError(
        'ERR_KEY_FILE_MISSING',
        `key file ${path} does not exist; create it with: scrooge keygen --out ${path}`,
      );
    }
    throw new ControlError('ERR_KEY_FILE_IO', `cannot read key file ${path}: ${err.message}`, { cause: e });
  }
  if ((mode & 0o044) !== 0) {
    throw new ControlError(
      'ERR_KEY_FILE_PERMISSIONS',
      `key file ${path} is readable by group or others (mode ${mode.toString(8).padStart(4, '0')}); fix with: chmod 600 ${path}`,
    );
  }
  let text: string;
  try {
    text = readFileSync(path, 'latin1');
  } catch (e) {
    throw new ControlError('ERR_KEY_FILE_IO', `cannot read key file ${path}: ${(e as Error).message}`, { cause: e });
  }
  return identityFromSeed(backend, parseKeyFile(text, `key file ${path}`));
}

/** Loads the key file, creating it (0600) with a fresh identity if it does not exist. */
export function loadOrCreateIdentity(backend: CryptoBackend, path: string): { identity: Identity; created: boolean } {
  try {
    return { identity: loadIdentityWith(backend, path), created: false };
  } catch (e) {
    if (!isScroogeError(e) || e.code !== 'ERR_KEY_FILE_MISSING') throw e;
  }
  const identity = generateIdentityWith(backend);
  writeKeyFile(path, identity.seed);
  return { identity, created: true };
}

/**
 * Canonical standard padded base64 (RFC 4648 §4) for fixed-size values.
 * Node's decoder is lenient (it skips junk, accepts missing padding and
 * non-zero trailing bits), so we validate the alphabet and length first and
 * then require that re-encoding gives back exactly the input.
 */
import { CryptoError } from './errors.js';
const B64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

/** Length in base64 characters of `n` bytes with padding. */
export function base64Length(n: number): number {
  return Math.ceil(n / 3) * 4;
}

export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** Decodes canonical base64 of exactly `size` bytes, or throws ERR_BASE64. */
export function fromBase64Exact(text: string, size: number, what = 'value'): Uint8Array {
  if (text.length !== base64Length(size) || !B64_RE.test(text)) {
    throw new CryptoError(
      'ERR_BASE64',
      `${what}: expected ${base64Length(size)} characters of standard padded base64 (${size} bytes)`,
    );
  }
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length !== size || bytes.toString('base64') !== text) {
    throw new CryptoError('ERR_BASE64', `${what}: not canonical base64 of ${size} bytes`);
  }
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= (a[i] as number) ^ (b[i] as number);
  return d === 0;
}

/** Bytewise (unsigned lexicographic) comparison: <0, 0, >0. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

export function isAllZero(a: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < a.length; i++) acc |= a[i] as number;
  return acc === 0;
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

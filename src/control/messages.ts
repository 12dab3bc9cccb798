/**
 * The control protocol's wire format (DESIGN.md, "Control protocol"): all four
 * messages, encode and strict decode together.
 *
 *   scrooge_hello          <srcPK> <dstPK> <seq> <sig>
 *   scrooge_hello_confirm  <srcPK> <dstPK> <seq> <sig>
 *   scrooge_tunnel         <srcPK> <dstPK> <tunnelPK> <tunnelEndpoint> <seq> <sig>
 *   scrooge_tunnel_confirm <srcPK> <dstPK> <tunnelPK> <tunnelEndpoint> <seq> <sig>
 *
 * One message per datagram, printable ASCII, fields separated by exactly one
 * space, no trailing newline, at most 512 bytes. Keys are canonical padded
 * base64 (44 chars), the signature 88 chars, seq a canonical decimal u64 (no
 * sign, no leading zeros), the endpoint `[ipv6]:port` or `ipv4:port` (port
 * 1–65535, no zone index). The signature is Ed25519 by srcPK over the exact
 * bytes before the final " <sig>".
 *
 * decodeControlMessage throws only ScroogeError with an ERR_MSG_* code.
 */
import { ControlError, type ControlErrorCode } from '../errors.js';
import { isIPv4, isIPv6 } from 'node:net';
import { PROTOCOL } from '../../base/constants.js';
import {
  type CryptoBackend,
  ED25519_PUBLIC_KEY_BYTES,
  ED25519_SIGNATURE_BYTES,
  fromBase64Exact,
  type Identity,
  isAllZero,
  toBase64,
  X25519_KEY_BYTES,
} from '../../crypto/index.js';

export const U64_MAX = (1n << 64n) - 1n;
/** dstPK of a multicast hello: 32 zero bytes. */
export const BROADCAST_KEY = new Uint8Array(32);

export type HelloType = 'scrooge_hello' | 'scrooge_hello_confirm';
export type TunnelType = 'scrooge_tunnel' | 'scrooge_tunnel_confirm';
export type ControlType = HelloType | TunnelType;

export interface Endpoint {
  /** IP address text (no brackets, no zone). */
  readonly host: string;
  readonly port: number;
  readonly family: 4 | 6;
}

interface MessageBase {
  readonly srcPK: Uint8Array;
  readonly dstPK: Uint8Array;
  readonly seq: bigint;
  readonly signature: Uint8Array;
  /** The exact bytes the signature covers. */
  readonly signed: Uint8Array;
}

export interface HelloMessage extends MessageBase {
  readonly type: HelloType;
}

export interface TunnelMessage extends MessageBase {
  readonly type: TunnelType;
  readonly tunnelPK: Uint8Array;
  readonly endpoint: Endpoint;
}

export type ControlMessage = HelloMessage | TunnelMessage;

export type ControlFields =
  | { type: HelloType; dstPK: Uint8Array; seq: bigint }
  | { type: TunnelType; dstPK: Uint8Array; seq: bigint; tunnelPK: Uint8Array; endpoint: Endpoint };

const FIELD_COUNT: Record<ControlType, number> = {
  scrooge_hello: 5,
  scrooge_hello_confirm: 5,
  scrooge_tunnel: 7,
  scrooge_tunnel_confirm: 7,
};

export function isTunnelType(t: ControlType): t is TunnelType {
  return t === 'scrooge_tunnel' || t === 'scrooge_tunnel_confirm';
}

export function formatEndpoint(e: Endpoint): string {
  return e.family === 6 ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`;
}

function fail(code: ControlErrorCode, message: string): never {
  throw new ControlError(code, message);
}

const PORT_RE = /^[1-9][0-9]{0,4}$/;
const SEQ_RE = /^(?:0|[1-9][0-9]{0,19})$/;

/** Parses `[ipv6]:port` or `ipv4:port` strictly. */
export function parseEndpoint(text: string): Endpoint {
  let host: string;
  let portText: string;
  let family: 4 | 6;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':') fail('ERR_MSG_ENDPOINT', 'endpoint: expected [ipv6]:port');
    host = text.slice(1, close);
    portText = text.slice(close + 2);
    if (host.includes('%') || !isIPv6(host))
      fail('ERR_MSG_ENDPOINT', 'endpoint: not an IPv6 address (zone not allowed)');
    family = 6;
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) fail('ERR_MSG_ENDPOINT', 'endpoint: expected ipv4:port or [ipv6]:port');
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (!isIPv4(host)) fail('ERR_MSG_ENDPOINT', 'endpoint: not a dotted-quad IPv4 address');
    family = 4;
  }
  if (!PORT_RE.test(portText) || Number(portText) > 65535) fail('ERR_MSG_ENDPOINT', 'endpoint: port must be 1-65535');
  return { host, port: Number(portText), family };
}

function key(text: string, what: string, size: number): Uint8Array {
  try {
    return fromBase64Exact(text, size, what);
  } catch {
    fail('ERR_MSG_KEY', `${what}: expected ${Math.ceil(size / 3) * 4} characters of canonical base64`);
  }
}

/** Strict decode. Throws ScroogeError (ERR_MSG_*) for every malformed input; nothing else escapes. */
export function decodeControlMessage(input: Uint8Array | string): ControlMessage {
  let bytes: Uint8Array;
  if (typeof input === 'string') {
    if (input.length > PROTOCOL.maxControlMessageBytes)
      fail('ERR_MSG_TOO_LONG', `message longer than ${PROTOCOL.maxControlMessageBytes} bytes`);
    bytes = new Uint8Array(input.length);
    for (let i = 0; i < input.length; i++) {
      const c = input.charCodeAt(i);
      if (c > 0x7e) fail('ERR_MSG_CHARSET', `byte ${i}: only printable ASCII is allowed`);
      bytes[i] = c;
    }
  } else if (input instanceof Uint8Array) {
    bytes = input;
  } else {
    fail('ERR_MSG_EMPTY', 'message must be bytes or a string');
  }
  if (bytes.length === 0) fail('ERR_MSG_EMPTY', 'empty message');
  if (bytes.length > PROTOCOL.maxControlMessageBytes)
    fail('ERR_MSG_TOO_LONG', `message longer than ${PROTOCOL.maxControlMessageBytes} bytes`);
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i] as number;
    if (c < 0x20 || c > 0x7e) fail('ERR_MSG_CHARSET', `byte ${i}: only printable ASCII and single spaces are allowed`);
  }
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  const fields = text.split(' ');
  const type = fields[0] as string;
  if (!Object.hasOwn(FIELD_COUNT, type)) fail('ERR_MSG_TYPE', `unknown message type "${type.slice(0, 32)}"`);
  const ctype = type as ControlType;
  for (const f of fields)
    if (f.length === 0) fail('ERR_MSG_EMPTY_FIELD', 'empty field (fields are separated by exactly one space)');
  if (fields.length !== FIELD_COUNT[ctype]) {
    fail('ERR_MSG_FIELD_COUNT', `${ctype} has ${FIELD_COUNT[ctype]} fields, got ${fields.length}`);
  }
  const srcPK = key(fields[1] as string, 'srcPK', ED25519_PUBLIC_KEY_BYTES);
  const dstPK = key(fields[2] as string, 'dstPK', ED25519_PUBLIC_KEY_BYTES);
  const seqText = fields[fields.length - 2] as string;
  if (!SEQ_RE.test(seqText)) fail('ERR_MSG_SEQ', 'seq must be a decimal integer without sign or leading zeros');
  const seq = BigInt(seqText);
  if (seq > U64_MAX) fail('ERR_MSG_SEQ', 'seq exceeds 2^64-1');
  const sigText = fields[fields.length - 1] as string;
  let signature: Uint8Array;
  try {
    signature = fromBase64Exact(sigText, ED25519_SIGNATURE_BYTES, 'sig');
  } catch {
    fail('ERR_MSG_SIGNATURE_FORMAT', 'sig: expected 88 characters of canonical base64');
  }
  // A copy (Buffer#slice would alias the caller's receive buffer).
  const signed = new Uint8Array(bytes.subarray(0, bytes.length - sigText.length - 1));
  if (isTunnelType(ctype)) {
    const tunnelPK = key(fields[3] as string, 'tunnelPK', X25519_KEY_BYTES);
    const endpoint = parseEndpoint(fields[4] as string);
    return { type: ctype, srcPK, dstPK, tunnelPK, endpoint, seq, signature, signed };
  }
  return { type: ctype, srcPK, dstPK, seq, signature, signed };
}

/** The text of a message before " <sig>". */
export function formatUnsigned(srcPK: Uint8Array, fields: ControlFields): string {
  if (fields.seq < 0n || fields.seq > U64_MAX) throw new ControlError('ERR_MSG_SEQ', 'seq must be within 0..2^64-1');
  if (fields.dstPK.length !== ED25519_PUBLIC_KEY_BYTES) throw new ControlError('ERR_MSG_KEY', 'dstPK must be 32 bytes');
  const head = `${fields.type} ${toBase64(srcPK)} ${toBase64(fields.dstPK)}`;
  if (fields.type === 'scrooge_tunnel' || fields.type === 'scrooge_tunnel_confirm') {
    if (fields.tunnelPK.length !== X25519_KEY_BYTES) throw new ControlError('ERR_MSG_KEY', 'tunnelPK must be 32 bytes');
    const ep = formatEndpoint(fields.endpoint);
    parseEndpoint(ep); // refuse to send what we would not accept
    return `${head} ${toBase64(fields.tunnelPK)} ${ep} ${fields.seq}`;
  }
  return `${head} ${fields.seq}`;
}

/** Longest endpoint text: "[" + 39-character IPv6 + "]:" + 5-digit port. */
const MAX_ENDPOINT_CHARS = 47;
/** Longest decimal u64. */
const MAX_SEQ_CHARS = 20;

/**
 * An upper bound on the encoded size of a message of `type` (the core
 * budgets what it sends before the shell signs and encodes it): the type,
 * two keys, [tunnel key and endpoint,] seq and signature, one space apart.
 */
export function maxMessageBytes(type: ControlType): number {
  const keys = 2 * (1 + 44);
  const tunnel = type === 'scrooge_tunnel' || type === 'scrooge_tunnel_confirm' ? 1 + 44 + 1 + MAX_ENDPOINT_CHARS : 0;
  return type.length + keys + tunnel + 1 + MAX_SEQ_CHARS + 1 + 88;
}

/** Encodes and signs a message from `identity`. */
export function encodeControlMessage(fields: ControlFields, identity: Identity): string {
  const unsigned = formatUnsigned(identity.publicKey, fields);
  const sig = identity.sign(Buffer.from(unsigned, 'latin1'));
  return `${unsigned} ${toBase64(sig)}`;
}

/** True if the signature is srcPK's over the signed bytes. Never throws. */
export function verifyControlMessage(backend: CryptoBackend, message: ControlMessage): boolean {
  return backend.ed25519Verify(message.signature, message.signed, message.srcPK);
}

export function isBroadcastKey(k: Uint8Array): boolean {
  return k.length === 32 && isAllZero(k);
}

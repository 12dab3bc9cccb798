/**
 * scrooge's public library API. The names here are stable; everything else is
 * internal.
 */
import { PROTOCOL } from '../base/constants.js';
import { type CryptoBackend, type Identity, selectBackend } from '../crypto/index.js';
import {
  type ControlFields,
  type ControlMessage,
  decodeControlMessage as decodeWire,
  encodeControlMessage as encodeWire,
  verifyControlMessage as verifyWire,
} from './control/messages.js';
import { generateIdentityWith, loadIdentityWith } from './keyfile.js';

let backend: CryptoBackend | undefined;

/** The crypto backend the API functions use (libsodium, or pure JS when it cannot load). */
export function defaultBackend(): CryptoBackend {
  backend ??= selectBackend(
    process.env.SCROOGE_CRYPTO === 'js' ? 'js' : process.env.SCROOGE_CRYPTO === 'sodium' ? 'sodium' : 'auto',
  ).backend;
  return backend;
}

/** A new random identity (Ed25519). */
export function generateIdentity(): Identity {
  return generateIdentityWith(defaultBackend());
}

/** Loads an identity key file; refuses files readable by group or others. */
export function loadIdentity(path: string): Identity {
  return loadIdentityWith(defaultBackend(), path);
}

/** Encodes and signs a control message. */
export function encodeControlMessage(fields: ControlFields, identity: Identity): string {
  return encodeWire(fields, identity);
}

/** Strictly decodes a control message; throws ScroogeError (code ERR_MSG_*) on malformed input. */
export function decodeControlMessage(input: Uint8Array | string): ControlMessage {
  return decodeWire(input);
}

/** Verifies a decoded message's signature. */
export function verifyControlMessage(message: ControlMessage): boolean {
  return verifyWire(defaultBackend(), message);
}

export type { CryptoBackend, Identity } from '../crypto/index.js';
export { isScroogeError, ScroogeError } from '../base/errors.js';
export { CryptoError, type CryptoErrorCode } from '../crypto/errors.js';
export { DataplaneError, type DataplaneErrorCode } from '../dataplane/errors.js';
export { ControlError, type ControlErrorCode } from './errors.js';
export {
  deriveSessionKeys,
  formatKeyFile,
  identityFromSeed,
  parseKeyFile,
  ReplayWindow,
  selectBackend,
  tunnelKeyPair,
} from '../crypto/index.js';
export { linkLocalAddress, tunName } from '../dataplane/names.js';
export type {
  ControlFields,
  ControlMessage,
  ControlType,
  Endpoint,
  HelloMessage,
  TunnelMessage,
} from './control/messages.js';
export { BROADCAST_KEY, formatEndpoint, parseEndpoint } from './control/messages.js';
/** UDP port of the control protocol (DESIGN.md). */
export const CONTROL_PORT = PROTOCOL.controlPort;
export { SeqSource, type SeqStore } from './control/seq.js';

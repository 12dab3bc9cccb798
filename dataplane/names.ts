/**
 * Names and addresses DESIGN.md derives from keys:
 *
 * - TUN device name: `<prefix><hex of sha256(peerPK || iface)>`, as many hex
 *   digits as fit in 15 characters (IFNAMSIZ - 1): at least 8, 12 with the
 *   default prefix. peerPK is the neighbour's 32-byte Ed25519 key and iface
 *   the mesh interface name in UTF-8. (32 bits let a ground key take a chosen
 *   neighbour's name; 48 bits make that a 2^48 search per target.)
 * - Tunnel link-local address of a node: fe80::/64 with the interface id =
 *   the first 8 bytes of sha256(node's Ed25519 public key).
 */
import { DataplaneError } from './errors.js';
import { createHash } from 'node:crypto';
import { formatIPv6 } from './sockaddr.js';

export const IFNAME_MAX = 15;
export const DEFAULT_TUN_PREFIX = 'scr';

function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/** Fewest hex digits of the hash in a TUN name (so the prefix is at most 7 characters). */
export const TUN_HASH_MIN_DIGITS = 8;

/** The first `digits` hex characters of sha256(peer ‖ interface). */
export function tunNameSuffix(peerPublicKey: Uint8Array, iface: string, digits: number): string {
  const digest = sha256(peerPublicKey, new TextEncoder().encode(iface));
  return Buffer.from(digest).toString('hex').slice(0, digits);
}

export function validateTunPrefix(prefix: string): void {
  if (prefix.length + TUN_HASH_MIN_DIGITS > IFNAME_MAX || !/^[A-Za-z0-9_.-]*$/.test(prefix)) {
    throw new DataplaneError(
      'ERR_INVALID_ARGUMENT',
      `TUN prefix "${prefix}" must be at most ${IFNAME_MAX - TUN_HASH_MIN_DIGITS} characters of [A-Za-z0-9_.-]`,
    );
  }
}

export function tunName(prefix: string, peerPublicKey: Uint8Array, iface: string): string {
  validateTunPrefix(prefix);
  return prefix + tunNameSuffix(peerPublicKey, iface, IFNAME_MAX - prefix.length);
}

/** The 8-byte IPv6 interface identifier of a node. */
export function linkLocalInterfaceId(publicKey: Uint8Array): Uint8Array {
  return sha256(publicKey).subarray(0, 8);
}

/** The node's 16-byte tunnel link-local address. */
export function linkLocalBytes(publicKey: Uint8Array): Uint8Array {
  const a = new Uint8Array(16);
  a[0] = 0xfe;
  a[1] = 0x80;
  a.set(linkLocalInterfaceId(publicKey), 8);
  return a;
}

/** The node's tunnel link-local address in canonical text form (RFC 5952). */
export function linkLocalAddress(publicKey: Uint8Array): string {
  return formatIPv6(linkLocalBytes(publicKey));
}

/** `scrooge keygen` and `scrooge inspect`. */
import { ControlError } from '../src/errors.js';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { fromBase64Exact } from '../crypto/index.js';
import { DEFAULT_TUN_PREFIX, linkLocalAddress, tunName, validateTunPrefix } from '../dataplane/names.js';
import { defaultBackend } from '../src/index.js';
import { generateIdentityWith, loadIdentityWith, writeKeyFile } from '../src/keyfile.js';
import { DEFAULT_STATE_DIR } from '../src/state.js';
import { flag, parseFlags, printJson, str, strs, table } from '../src/flags.js';

export const KEYGEN_HELP = `usage: scrooge keygen [--out FILE] [--force]

Creates a new Ed25519 identity and prints its public key. With --out the seed
is written to FILE (mode 0600; an existing file is kept unless --force).
Without --out the key file text is printed on stdout after the public key.`;

export function keygen(args: string[]): number {
  const p = parseFlags('keygen', args, { out: { type: 'string' }, force: { type: 'boolean' } }, 0);
  const identity = generateIdentityWith(defaultBackend());
  const out = str(p, 'out');
  if (out !== undefined) {
    writeKeyFile(out, identity.seed, flag(p, 'force'));
    process.stdout.write(`${identity.publicKeyBase64}\n`);
  } else {
    process.stderr.write('scrooge keygen: no --out given; printing the secret key file contents on stdout\n');
    process.stdout.write(`${identity.publicKeyBase64}\n${Buffer.from(identity.seed).toString('base64')}\n`);
  }
  return 0;
}

export const INSPECT_HELP = `usage: scrooge inspect [PUBKEY] [--key FILE] [--state-dir DIR] [--interface IFACE]... [--tun-prefix P] [--json]

Prints a public key (given, or read from the key file) and what DESIGN.md
derives from it: the node's tunnel link-local address, and the name of the
TUN device a neighbour creates for it on each interface (--interface, default:
this machine's interfaces).`;

export function inspect(args: string[]): number {
  const p = parseFlags(
    'inspect',
    args,
    {
      key: { type: 'string' },
      'state-dir': { type: 'string' },
      interface: { type: 'string', multiple: true },
      'tun-prefix': { type: 'string' },
      json: { type: 'boolean' },
    },
    1,
  );
  const prefix = str(p, 'tun-prefix') ?? DEFAULT_TUN_PREFIX;
  validateTunPrefix(prefix);
  let publicKey: Uint8Array;
  const given = p.positionals[0];
  if (given !== undefined) {
    try {
      publicKey = fromBase64Exact(given, 32, 'public key');
    } catch {
      throw new ControlError('ERR_USAGE', `inspect: "${given}" is not a public key (44 characters of base64)`);
    }
  } else {
    const keyPath = str(p, 'key') ?? join(str(p, 'state-dir') ?? DEFAULT_STATE_DIR, 'key');
    publicKey = loadIdentityWith(defaultBackend(), keyPath).publicKey;
  }
  let ifaces = strs(p, 'interface');
  if (ifaces.length === 0) ifaces = Object.keys(networkInterfaces()).filter((n) => n !== 'lo');
  const result = {
    publicKey: Buffer.from(publicKey).toString('base64'),
    linkLocal: linkLocalAddress(publicKey),
    tunNames: Object.fromEntries(ifaces.map((i) => [i, tunName(prefix, publicKey, i)])),
  };
  if (flag(p, 'json')) {
    printJson(result);
    return 0;
  }
  process.stdout.write(`public key   ${result.publicKey}\nlink-local   ${result.linkLocal}\n`);
  if (ifaces.length > 0) {
    process.stdout.write(`\n${table(['INTERFACE', 'TUN NAME (on a neighbour)'], Object.entries(result.tunNames))}\n`);
  }
  return 0;
}

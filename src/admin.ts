/**
 * The admin API's `POST /v1/set` request, parsed and checked (pure): exactly
 * one setting, with a value the daemon accepts. The daemon only applies what
 * this returns; every bad request is an ERR_API_REQUEST naming the setting
 * and the reason.
 */
import { ControlError } from './errors.js';
import { fromBase64Exact } from '../crypto/index.js';
import { SCHEDULERS } from './config.js';
import { parseRate, parseShare, parseWeight } from './values.js';

export type SetRequest =
  | { kind: 'weight'; key: string; weight: number }
  | { kind: 'rate'; key: string; rate: number | undefined }
  | { kind: 'share'; share: number }
  | { kind: 'capacity'; capacity: number | undefined }
  | { kind: 'scheduler'; scheduler: string };

const SETTABLE = 'weight, rate, share, capacity, scheduler';

export function parseSetRequest(body: unknown): SetRequest {
  if (typeof body !== 'object' || body === null) throw new ControlError('ERR_API_REQUEST', 'expected a JSON object');
  const b = body as Record<string, unknown>;
  const keys = Object.keys(b);
  if (keys.length !== 1) throw new ControlError('ERR_API_REQUEST', `set exactly one of ${SETTABLE}`);
  const what = keys[0] as string;
  const v = b[what];
  /** Runs a value parser; its error becomes the request's. */
  const check = <T>(parse: () => T): T => {
    try {
      return parse();
    } catch (e) {
      throw new ControlError('ERR_API_REQUEST', `${what}: ${(e as Error).message}`);
    }
  };
  const neighbor = (): { key: string; value: unknown } => {
    const o = v as { key?: unknown; value?: unknown };
    if (typeof o !== 'object' || o === null || typeof o.key !== 'string')
      throw new ControlError('ERR_API_REQUEST', `${what}: expected {"key": PUBKEY, "value": …}`);
    const key = o.key;
    try {
      fromBase64Exact(key, 32, 'public key');
    } catch {
      throw new ControlError('ERR_API_REQUEST', `${what}: "${key}" is not a public key`);
    }
    return { key, value: o.value };
  };
  const rateOrNone = (x: unknown) => (x === null || x === 'none' ? undefined : parseRate(x));
  switch (what) {
    case 'weight': {
      const { key, value } = neighbor();
      return { kind: 'weight', key, weight: check(() => parseWeight(value)) };
    }
    case 'rate': {
      const { key, value } = neighbor();
      return { kind: 'rate', key, rate: check(() => rateOrNone(value)) };
    }
    case 'share':
      return { kind: 'share', share: check(() => parseShare(v)) };
    case 'capacity':
      return { kind: 'capacity', capacity: check(() => rateOrNone(v)) };
    case 'scheduler':
      if (typeof v !== 'string' || !SCHEDULERS.includes(v))
        throw new ControlError(
          'ERR_API_REQUEST',
          `scheduler: ${JSON.stringify(v)} is not one of ${SCHEDULERS.join(', ')}`,
        );
      return { kind: 'scheduler', scheduler: v };
    default:
      throw new ControlError('ERR_API_REQUEST', `unknown setting "${what}" (${SETTABLE})`);
  }
}

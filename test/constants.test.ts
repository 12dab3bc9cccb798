import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { NATIVE } from '../base/constants.js';

const NATIVE_DIR = fileURLToPath(new URL('../../dataplane/native/', import.meta.url));

/** #define NAME value across the addon's sources. */
function defines(): Map<string, number> {
  const out = new Map<string, number>();
  for (const f of readdirSync(NATIVE_DIR)) {
    if (!/\.[ch]$/.test(f)) continue;
    for (const m of readFileSync(NATIVE_DIR + f, 'utf8').matchAll(/^#define (\w+) (\d+)\b/gm)) {
      out.set(m[1] as string, Number(m[2]));
    }
  }
  return out;
}

test('the addon defines the batch sizes base/constants.ts gives (one value each side)', (t) => {
  const d = defines();
  t.is(d.get('MAX_MSGS'), NATIVE.maxMsgs);
  t.is(d.get('MAX_IOV'), NATIVE.maxIov);
  t.is(d.get('GSO_MAX_SEGMENTS'), NATIVE.gsoMaxSegments);
  t.is(d.get('GSO_MAX_BYTES'), NATIVE.gsoMaxBytes);
  t.is(d.get('GRO_MAX_SEGMENTS'), NATIVE.groMaxSegments);
  t.is(d.get('GRO_MAX_FLOWS'), NATIVE.groMaxFlows);
  t.is(d.get('TUN_SCRATCH_BYTES'), NATIVE.tunReadBufferBytes);
  t.is(d.get('TUN_SCRATCH_BYTES'), (d.get('VNET_HDR_LEN') ?? 0) + 65536 + 1024);
});

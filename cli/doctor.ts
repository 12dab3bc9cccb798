/** `scrooge doctor`: the checks of src/doctor.ts, as a table or JSON. */
import { loadConfig, SETTINGS, upFlagOptions } from '../src/config.js';
import { type CheckResult, runChecks } from '../src/doctor.js';
import { VERSION } from '../src/version.js';
import { flag, parseFlags, printJson } from '../src/flags.js';

export const DOCTOR_HELP = `usage: scrooge doctor [--json] [--config FILE] [scrooge up options]

Checks everything a node needs on this machine and says, per item, OK or what
to install or change: /dev/net/tun, CAP_NET_ADMIN, nftables (binary and
kernel), IPv6 and the mesh interfaces, the native addon (prebuilt or built
from source), UDP GSO/GRO and TUN offloads, the crypto backend, babeld (with
--babel), the clock against the stored sequence floor, and the state
directory's and key file's permissions. It takes the same options as
\`scrooge up\` (${SETTINGS.length} settings; see scrooge up --help), so it checks the
configuration you will run. \`scrooge up\` runs the same checks at start and
refuses to start on any FAIL, with the same message.

Exit status: 0 when nothing fails (warnings allowed), 1 otherwise.`;

const MARK: Record<CheckResult['status'], string> = { ok: 'ok', warn: 'WARN', fail: 'FAIL', skip: '-' };

export async function doctor(args: string[]): Promise<number> {
  const p = parseFlags('doctor', args, { ...upFlagOptions(), json: { type: 'boolean' } }, 0);
  const values = { ...p.values };
  delete values.json;
  const cfg = loadConfig(values, undefined, { requireInterfaces: false });
  const results = await runChecks(cfg);
  const failed = results.filter((r) => r.status === 'fail').length;
  const warned = results.filter((r) => r.status === 'warn').length;
  if (flag(p, 'json')) {
    printJson({
      ok: failed === 0,
      version: VERSION,
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      checks: results,
    });
    return failed === 0 ? 0 : 1;
  }
  const width = Math.max(...results.map((r) => r.title.length));
  const lines = [`scrooge doctor: scrooge ${VERSION}, node ${process.version}, ${process.platform}-${process.arch}`];
  for (const r of results) lines.push(`  ${MARK[r.status].padEnd(5)} ${r.title.padEnd(width)}  ${r.detail}`);
  lines.push(
    failed > 0
      ? `${failed} problem${failed === 1 ? '' : 's'}: scrooge up refuses to start until ${failed === 1 ? 'it is' : 'they are'} fixed.`
      : `no problems${warned > 0 ? ` (${warned} warning${warned === 1 ? '' : 's'})` : ''}: scrooge up can start.`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
  return failed === 0 ? 0 : 1;
}

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../cli/main.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * How to start this Node: the executable, or an emulator in front of it. The
 * cross-architecture matrix (test/cross/matrix.ts) runs the tests under
 * qemu-user without binfmt_misc, so a foreign Node can only start another
 * through qemu: it sets SCROOGE_TEST_EXEC_PREFIX (e.g. "qemu-s390x -L /").
 */
export function nodeCommand(): string[] {
  const prefix = (process.env.SCROOGE_TEST_EXEC_PREFIX ?? '').split(' ').filter((w) => w !== '');
  return [...prefix, process.execPath];
}

/** Runs the built CLI synchronously (for short commands). */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): CliResult {
  const [cmd, ...pre] = nodeCommand() as [string, ...string[]];
  const r = spawnSync(cmd, [...pre, CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

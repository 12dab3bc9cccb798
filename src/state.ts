/**
 * Files in the state directory: atomic writes, the seq ceiling, the pid lock.
 */
import { ControlError } from './errors.js';
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import type { FloorStore } from './control/floors.js';
import type { SeqStore } from './control/seq.js';

/** The state directory unless --state-dir or the config says otherwise. */
export const DEFAULT_STATE_DIR = process.env.SCROOGE_STATE_DIR ?? '/var/lib/scrooge';

/** Writes `data` to `path` atomically and durably (tmp file, fsync, rename, fsync dir). */
export function writeFileAtomic(path: string, data: string, mode = 0o600): void {
  const tmp = `${path}.tmp-${process.pid}`;
  // a stale tmp (a crash between open and rename) would keep its old mode with 'w': start afresh
  try {
    unlinkSync(tmp);
  } catch {
    // none
  }
  const fd = openSync(tmp, 'wx', mode);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  try {
    const dfd = openSync(dirname(path), 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic.
  }
}

export function ensureStateDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!statSync(dir).isDirectory()) throw new Error('not a directory');
  } catch (e) {
    throw new ControlError('ERR_STATE_DIR', `state directory ${dir}: ${(e as Error).message}`, { cause: e });
  }
}

/** A state file's text, or undefined when it does not exist yet; any other failure is ERR_SEQ_STATE. */
function readStateFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ControlError('ERR_SEQ_STATE', `cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
}

/** The seq ceiling file: one decimal line. */
export function fileSeqStore(dir: string): SeqStore {
  const path = join(dir, 'seq');
  return {
    load() {
      const text = readStateFile(path);
      if (text === undefined) return undefined;
      const line = text.trim();
      if (!/^(?:0|[1-9][0-9]{0,19})$/.test(line)) {
        throw new ControlError(
          'ERR_SEQ_STATE',
          `${path} is corrupt (expected one decimal number). Neighbours reject sequence numbers below what they have seen; ` +
            'if you delete this file, the node uses the wall clock and must not be started with a clock earlier than before',
        );
      }
      return BigInt(line);
    },
    save(ceiling) {
      try {
        writeFileAtomic(path, `${ceiling}\n`);
      } catch (e) {
        throw new ControlError('ERR_SEQ_STATE', `cannot write ${path}: ${(e as Error).message}`, { cause: e });
      }
    },
  };
}

/**
 * The replay floors of recently seen links (control/floors.ts): one line per
 * link, `<base64 key>|<interface> <seq>`, oldest first. A line that does not
 * parse is skipped (the floor is a defence, not a record: losing one reopens
 * one link's old messages to replay, which the log says).
 */
export function fileFloorStore(dir: string, onBadLine?: (line: number, why: string) => void): FloorStore {
  const path = join(dir, 'seq-floors');
  return {
    load() {
      const out = new Map<string, bigint>();
      const text = readStateFile(path);
      if (text === undefined) return out;
      text.split('\n').forEach((line, i) => {
        if (line === '') return;
        const m = /^([A-Za-z0-9+/]{43}=\|[^\s|]{1,15}) (0|[1-9][0-9]{0,19})$/.exec(line);
        if (!m) onBadLine?.(i + 1, 'expected "<key>|<interface> <seq>"');
        else out.set(m[1] as string, BigInt(m[2] as string));
      });
      return out;
    },
    save(floors) {
      let text = '';
      for (const [k, v] of floors) text += `${k} ${v}\n`;
      try {
        writeFileAtomic(path, text);
      } catch (e) {
        throw new ControlError('ERR_SEQ_STATE', `cannot write ${path}: ${(e as Error).message}`, { cause: e });
      }
    },
  };
}

/** Start time of a process (clock ticks since boot), or undefined if it does not exist. */
function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

export interface StateLock {
  release(): void;
}

/**
 * One daemon per state directory: <dir>/scrooge.pid holds "pid starttime".
 * A lock whose process is gone (or whose pid now belongs to another process
 * started later) is stale and taken over, so kill -9 never blocks a restart.
 */
export function acquireLock(dir: string): StateLock {
  const path = join(dir, 'scrooge.pid');
  const mine = `${process.pid} ${processStartTime(process.pid) ?? '0'}\n`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, mine);
      closeSync(fd);
      return {
        release() {
          try {
            if (readFileSync(path, 'utf8') === mine) unlinkSync(path);
          } catch {
            // gone already
          }
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new ControlError('ERR_STATE_DIR', `cannot create ${path}: ${(e as Error).message}`, { cause: e });
      }
    }
    let held = '';
    try {
      held = readFileSync(path, 'utf8');
    } catch {
      continue;
    }
    const [pidText, start] = held.trim().split(' ');
    const pid = Number(pidText);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && processStartTime(pid) === start) {
      throw new ControlError(
        'ERR_LOCKED',
        `another scrooge (pid ${pid}) is running with state directory ${dir}; stop it first or use another --state-dir`,
      );
    }
    try {
      unlinkSync(path); // stale
    } catch {
      // raced with another starter; retry
    }
  }
  throw new ControlError('ERR_LOCKED', `cannot take the lock ${path}`);
}

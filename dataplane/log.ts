/**
 * Logging as the data path sees it: an interface (the implementation lives in
 * src/log.ts) and a rate limiter, so per-packet problems become at most one
 * summary line per key per interval ("net_dbg_ratelimited").
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

export const nullLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return nullLogger;
  },
};

/** At most one line per key per `intervalMs`; later lines report how many were suppressed. */
export class RateLimitedLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();
  constructor(
    private readonly log: Logger,
    private readonly intervalMs = 10_000,
  ) {}

  emit(level: LogLevel, key: string, nowMs: number, msg: string, fields?: LogFields): void {
    const e = this.last.get(key);
    if (e && nowMs - e.at < this.intervalMs) {
      e.suppressed++;
      return;
    }
    const suppressed = e?.suppressed ?? 0;
    this.last.set(key, { at: nowMs, suppressed: 0 });
    this.log[level](msg, suppressed > 0 ? { ...fields, suppressed } : fields);
  }
}

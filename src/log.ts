/**
 * Structured logs on stderr: one line per event, logfmt by default
 * (`ts=… level=info msg="tunnel up" neighbor=… iface=…`) or JSON lines with
 * --log-format json. Per-packet problems reach here only as rate-limited
 * summaries (dataplane/log.ts).
 */
import type { LogFields, Logger, LogLevel } from '../dataplane/log.js';

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFormat = 'logfmt' | 'json';

function quote(v: string): string {
  return /^[A-Za-z0-9_.:/@+\-[\]%=,]+$/.test(v) && !v.includes('=') ? v : JSON.stringify(v);
}

export function formatLine(format: LogFormat, level: LogLevel, msg: string, fields: LogFields, ts: Date): string {
  if (format === 'json') return JSON.stringify({ ts: ts.toISOString(), level, msg, ...fields });
  let line = `ts=${ts.toISOString()} level=${level} msg=${JSON.stringify(msg)}`;
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    line += ` ${k}=${v === null ? 'null' : typeof v === 'string' ? quote(v) : String(v)}`;
  }
  return line;
}

export function createLogger(opts: {
  level: LogLevel;
  format?: LogFormat;
  write?: (line: string) => void;
  fields?: LogFields;
}): Logger {
  const min = ORDER[opts.level];
  const format = opts.format ?? 'logfmt';
  const write = opts.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const make = (base: LogFields): Logger => {
    const at =
      (level: LogLevel) =>
      (msg: string, fields?: LogFields): void => {
        if (ORDER[level] < min) return;
        write(formatLine(format, level, msg, { ...base, ...fields }, new Date()));
      };
    return {
      debug: at('debug'),
      info: at('info'),
      warn: at('warn'),
      error: at('error'),
      child: (fields) => make({ ...base, ...fields }),
    };
  };
  return make(opts.fields ?? {});
}

export function isLogLevel(s: string): s is LogLevel {
  return s in ORDER;
}

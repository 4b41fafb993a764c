import { Writable } from 'node:stream';
import winston from 'winston';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

/**
 * The operator's JSON logger. Callers pass identifiers (binding, store, remote key, reason)
 * as fields and never values; messages of provider errors are sanitised before they get here.
 */
export function createLogger(
  level: LogLevel,
  stream: NodeJS.WritableStream = process.stderr,
): winston.Logger {
  return winston.createLogger({
    level,
    format: winston.format.combine(
      winston.format.timestamp(),
      winston.format.errors({ stack: false }),
      winston.format.json(),
    ),
    defaultMeta: { component: 'mlsecrets' },
    transports: [new winston.transports.Stream({ stream })],
  });
}

/** A logger that drops everything, for unit tests that do not read logs. */
export function silentLogger(): winston.Logger {
  return winston.createLogger({
    silent: true,
    transports: [new winston.transports.Console({ silent: true })],
  });
}

/** A debug logger whose JSON lines are kept in `lines`, for unit tests that read logs. */
export function collectingLogger(): { logger: winston.Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger(
    'debug',
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        lines.push(chunk.toString());
        callback();
      },
    }),
  );
  return { logger, lines };
}

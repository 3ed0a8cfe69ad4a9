import type { LogLevel } from 'graphile-worker'
import { Logger as WorkerLogger } from 'graphile-worker'
import type { DestinationStream, Logger } from 'pino'
import { pino } from 'pino'

export type { Logger } from 'pino'

/**
 * The root logger: JSON lines. Secrets, signatures and bodies are never passed to it; the
 * redaction paths are a second line of defence for anything that carries headers.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'imtegrate-webhooks' },
    serializers: { err: (error: Error) => shortenDatabaseError(pino.stdSerializers.err(error)) },
    redact: {
      paths: ['secret', '*.secret', 'headers', '*.headers', 'body', '*.body', 'signature', '*.signature'],
      censor: '[redacted]',
    },
  }
  return destination ? pino(options, destination) : pino(options)
}

/** The most of a PostgreSQL error's context (`where`) or internal query a log line keeps. */
const CONTEXT_CHARS = 400

/**
 * A PostgreSQL error raised inside one of the schema's functions carries, in `where`, the text of
 * every SQL statement it was in: a page of SQL per log line, read by nobody. The statements are
 * left out (the functions named, with their line, stay) and what is left is cut.
 */
export function shortenDatabaseError<T extends Record<string, unknown>>(serialized: T): T {
  const shorten = (text: unknown) =>
    typeof text === 'string' ? text.replace(/SQL statement "[\s\S]*?"\n?/g, '').slice(0, CONTEXT_CHARS) : text
  if (typeof serialized['where'] !== 'string' && typeof serialized['internalQuery'] !== 'string') {
    return serialized
  }
  return {
    ...serialized,
    where: shorten(serialized['where']),
    internalQuery: shorten(serialized['internalQuery']),
  }
}

/**
 * Whether a person reads the log as it is written: pretty lines in a terminal, outside
 * production. Anything else (a pipe, a file, a log collector, production) gets JSON lines.
 */
export function wantsPrettyLog(output: { isTTY?: boolean }, nodeEnv: string): boolean {
  return output.isTTY === true && nodeEnv !== 'production'
}

/**
 * The same lines, pretty-printed for a terminal (pino-pretty, written synchronously so nothing
 * is lost when the process exits) to `output` (stdout by default). Loaded only when used.
 */
export async function prettyDestination(
  output: NodeJS.WritableStream | number = process.stdout.fd,
): Promise<DestinationStream> {
  const { default: pretty } = await import('pino-pretty')
  return pretty({
    destination: output,
    colorize: true,
    sync: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'service',
  })
}

/**
 * graphile-worker's tasks whose every run (every minute, on some worker) would otherwise log a
 * "Completed task" line at info: that line goes to debug, so an idle worker's log stays quiet.
 * A failure still logs at error.
 */
const ROUTINE_TASKS: ReadonlySet<string> = new Set(['reconcile'])

/** The level graphile-worker's line goes out at: its `warning` is pino's `warn`. */
export function workerLineLevel(
  level: LogLevel,
  meta: Readonly<Record<string, unknown>> | undefined,
): 'error' | 'warn' | 'info' | 'debug' {
  if (level === 'warning') {
    return 'warn'
  }
  const job = meta?.['job'] as { task_identifier?: unknown } | undefined
  if (level === 'info' && meta?.['success'] === true && ROUTINE_TASKS.has(String(job?.task_identifier))) {
    return 'debug'
  }
  return level
}

/** graphile-worker's Logger, writing through pino. */
export function workerLogger(logger: Logger): WorkerLogger {
  return new WorkerLogger((scope) => {
    const child = logger.child({ component: 'graphile-worker', ...scope })
    return (level, message, meta) => {
      child[workerLineLevel(level, meta)](meta ?? {}, message)
    }
  })
}

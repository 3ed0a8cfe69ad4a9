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
    redact: {
      paths: ['secret', '*.secret', 'headers', '*.headers', 'body', '*.body', 'signature', '*.signature'],
      censor: '[redacted]',
    },
  }
  return destination ? pino(options, destination) : pino(options)
}

/** graphile-worker's Logger, writing through pino (its `warning` level is pino's `warn`). */
export function workerLogger(logger: Logger): WorkerLogger {
  return new WorkerLogger((scope) => {
    const child = logger.child({ component: 'graphile-worker', ...scope })
    return (level, message, meta) => {
      const method = level === 'warning' ? 'warn' : level
      child[method](meta ?? {}, message)
    }
  })
}

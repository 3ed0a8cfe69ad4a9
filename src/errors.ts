/**
 * Codes for failures the project itself raises; code branches on these, never on messages. Every
 * error class of ours is a WebhookError with one of these, except two whose codes are values
 * other code stores or matches: TargetRefusedError (ERR_TARGET_REFUSED, Node's style, mapped by
 * delivery/http.ts) and TransportError (the attempt's recorded error code, e.g. connection_refused).
 */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'INVALID_ARGUMENT'
  | 'SCHEMA_NOT_MIGRATED'
  | 'NOT_IN_TRANSACTION'
  | 'NOT_FOUND'
  | 'SECRET_UNREADABLE'
  | 'SECRET_EXISTS'
  | 'SECRET_STILL_SIGNING'
  | 'DELIVERY_IN_PROGRESS'
  | 'DESTINATION_INACTIVE'
  | 'MIGRATION_FAILED'
  | 'WORKER_FAILED'
  | 'DEADLINE_EXCEEDED'
  | 'EMBEDDED_POSTGRES_FAILED'
  | 'USAGE'
  | 'COMMAND_FAILED'
  /** The database answered what it cannot (no row where one must be), or code did what it must not. */
  | 'INTERNAL'

/** An error with a stable code, the shape of every error class of this project. */
export class CodedError<Code extends string> extends Error {
  readonly code: Code

  constructor(code: Code, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = new.target.name
    this.code = code
  }
}

export class WebhookError extends CodedError<ErrorCode> {
  /** With INVALID_ARGUMENT: the argument (or input field, dotted) that was refused, when known. */
  readonly field: string | undefined

  constructor(code: ErrorCode, message: string, options?: ErrorOptions & { field?: string | undefined }) {
    super(code, message, options)
    this.field = options?.field
  }
}

/** Turns anything thrown into an Error, keeping the original as its cause. */
export function coerceError(thrown: unknown): Error {
  return thrown instanceof Error ? thrown : new Error(String(thrown), { cause: thrown })
}

/**
 * A PostgreSQL argument error (22023, raised by the webhooks schema's checks, naming the
 * argument) as INVALID_ARGUMENT; anything else as it was. For `catch (e) { throw … }`.
 */
export function asInvalidArgument(thrown: unknown): unknown {
  if (sqlState(thrown) !== '22023') {
    return thrown
  }
  // webhooks.invalid names the argument in the error's column field too.
  const column = (thrown as { column?: unknown }).column
  return new WebhookError('INVALID_ARGUMENT', (thrown as Error).message, {
    cause: thrown,
    field: typeof column === 'string' ? column : undefined,
  })
}

/** The SQLSTATE of a PostgreSQL error, if it is one. */
export function sqlState(thrown: unknown): string | undefined {
  const code = (thrown as { code?: unknown } | null)?.code
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined
}

/**
 * One line for an error an operator reads: its message, with its code when the message does not
 * hold it, and each failure of an AggregateError (a host name with several addresses refused
 * them all, and the aggregate's own message is empty).
 */
export function errorText(thrown: unknown): string {
  if (thrown instanceof AggregateError && thrown.errors.length > 0) {
    return thrown.errors.map(errorText).join('; ')
  }
  const error = coerceError(thrown)
  const code = (error as { code?: unknown }).code
  const message = error.message || (typeof code === 'string' ? code : error.name)
  return typeof code === 'string' && !message.includes(code) ? `${message} (${code})` : message
}

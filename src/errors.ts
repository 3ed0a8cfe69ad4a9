/** Codes for failures the project itself raises; code branches on these, never on messages. */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'EMBEDDED_POSTGRES_FAILED'
  | 'SCHEMA_NOT_MIGRATED'
  | 'NOT_IN_TRANSACTION'
  | 'NOT_FOUND'
  | 'INVALID_ARGUMENT'
  | 'SECRET_KEY_MISSING'
  | 'SECRET_UNREADABLE'
  | 'TARGET_REFUSED'
  | 'SECRET_EXISTS'
  | 'SECRET_STILL_SIGNING'
  | 'DELIVERY_IN_PROGRESS'
  | 'DESTINATION_INACTIVE'

export class WebhookError extends Error {
  readonly code: ErrorCode
  /** With INVALID_ARGUMENT: the argument (or input field, dotted) that was refused, when known. */
  readonly field: string | undefined

  constructor(code: ErrorCode, message: string, options?: ErrorOptions & { field?: string | undefined }) {
    super(message, options)
    this.name = 'WebhookError'
    this.code = code
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

/** Codes for failures the project itself raises; code branches on these, never on messages. */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'NOT_IN_TRANSACTION'
  | 'NOT_FOUND'
  | 'INVALID_ARGUMENT'
  | 'SECRET_KEY_MISSING'
  | 'SECRET_UNREADABLE'
  | 'TARGET_REFUSED'

export class WebhookError extends Error {
  readonly code: ErrorCode

  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'WebhookError'
    this.code = code
  }
}

/** Turns anything thrown into an Error, keeping the original as its cause. */
export function coerceError(thrown: unknown): Error {
  return thrown instanceof Error ? thrown : new Error(String(thrown), { cause: thrown })
}

/** The SQLSTATE of a PostgreSQL error, if it is one. */
export function sqlState(thrown: unknown): string | undefined {
  const code = (thrown as { code?: unknown } | null)?.code
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined
}

import type { ParseArgsConfig } from 'node:util'
import { parseArgs } from 'node:util'
import { WebhookError } from '../errors.ts'
import { printable } from '../text.ts'

/** Where a command writes, and the environment it reads; tests pass their own. */
export type Io = {
  out(text: string): void
  err(text: string): void
  env: Record<string, string | undefined>
  isTTY: boolean
}

export const processIo: Io = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  env: process.env,
  isTTY: process.stdout.isTTY === true,
}

/** Bad arguments: the command prints its usage and exits 2. */
export class UsageError extends WebhookError {
  override name = 'UsageError'

  constructor(message: string, options?: ErrorOptions) {
    super('USAGE', message, options)
  }
}

/**
 * INVALID_ARGUMENT (an argument the database's checks refused) as a usage error: the command
 * prints it with its usage and exits 2. Anything else as it was. For `catch (e) { throw … }`.
 */
export function asUsageError(thrown: unknown): unknown {
  return thrown instanceof WebhookError && thrown.code === 'INVALID_ARGUMENT'
    ? new UsageError(thrown.message, { cause: thrown })
    : thrown
}

/** A known failure (unknown id, nothing to do): the message is printed, exit 1. */
export class CommandError extends WebhookError {
  override name = 'CommandError'

  constructor(message: string, options?: ErrorOptions) {
    super('COMMAND_FAILED', message, options)
  }
}

export type Command = {
  usage: string
  run(args: string[], io: Io): Promise<void>
}

type Options = NonNullable<ParseArgsConfig['options']>

/** node:util parseArgs with our errors: unknown flags and missing values are usage errors. */
export function parse<const O extends Options>(args: string[], options: O, positionals = 0) {
  try {
    const parsed = parseArgs({ args, options, allowPositionals: positionals > 0, strict: true })
    if (parsed.positionals.length > positionals) {
      throw new UsageError(`unexpected argument: ${parsed.positionals[positionals]}`)
    }
    return parsed
  } catch (error) {
    if (error instanceof UsageError) {
      throw error
    }
    throw new UsageError((error as Error).message, { cause: error })
  }
}

export function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') {
    throw new UsageError(`${flag} is required`)
  }
  return value
}

/** Prints rows as aligned columns (control characters made visible), or as JSON with --json. */
export function printTable(io: Io, rows: Array<Record<string, unknown>>, columns: string[]): void {
  const cell = (value: unknown) =>
    value === null || value === undefined
      ? '-'
      : value instanceof Date
        ? value.toISOString()
        : printable(String(value))
  const widths = columns.map((column) =>
    Math.max(column.length, ...rows.map((row) => cell(row[column]).length)),
  )
  const line = (values: string[]) =>
    values
      .map((value, i) => value.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd()
  io.out(line(columns.map((c) => c.toUpperCase())))
  for (const row of rows) {
    io.out(line(columns.map((column) => cell(row[column]))))
  }
}

export function printJson(io: Io, value: unknown): void {
  io.out(JSON.stringify(value, null, 2))
}

import type { ParseArgsConfig } from 'node:util'
import { parseArgs } from 'node:util'
import { WebhookError } from '../errors.ts'
import { printable, shown } from '../text.ts'

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

/** --help or -h as an option (not as another option's value): main prints the usage, exit 0. */
export class HelpRequested extends WebhookError {
  override name = 'HelpRequested'

  constructor() {
    super('USAGE', 'help requested')
  }
}

const HELP = { help: { type: 'boolean', short: 'h' } } as const

/**
 * node:util parseArgs with our rules; every breach is a usage error. The argument after an option
 * that takes a value is its value, even when it starts with a dash (`--reason -h`, `--since -1d`).
 * An unknown option, a missing value, a value given to a flag, an option given twice (which one
 * was meant? unless it takes several values) and an empty value (leave the option out instead) are refused; what is echoed of
 * them is escaped and cut.
 */
export function parse<const O extends Options>(args: string[], options: O, positionals = 0) {
  // Not strict: strict mode refuses a value that starts with a dash; the checks below replace it.
  const parsed = parseArgs({
    args,
    options: { ...options, ...HELP },
    allowPositionals: true,
    strict: false,
    tokens: true,
  })
  const seen = new Set<string>()
  for (const token of parsed.tokens) {
    if (token.kind !== 'option') {
      continue
    }
    const flag = shown(token.rawName, 60)
    const type = token.name === 'help' ? 'boolean' : options[token.name]?.type
    if (type === undefined) {
      throw new UsageError(`Unknown option '${flag}'`)
    }
    if (seen.has(token.name) && options[token.name]?.multiple !== true) {
      throw new UsageError(`${flag} is given twice; give it once`)
    }
    seen.add(token.name)
    if (type === 'boolean' && token.value !== undefined) {
      throw new UsageError(`${flag} takes no value`)
    }
    if (type === 'string' && token.value === undefined) {
      throw new UsageError(`${flag} needs a value`)
    }
    if (type === 'string' && token.value === '') {
      throw new UsageError(`${flag} is empty: give a value, or leave the option out`)
    }
  }
  if (seen.has('help')) {
    throw new HelpRequested()
  }
  if (parsed.positionals.length > positionals) {
    throw new UsageError(`Unexpected argument '${shown(parsed.positionals[positionals] ?? '')}'`)
  }
  // The checks above made every value the type its option declares.
  return parsed as unknown as ReturnType<
    typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>
  >
}

/** The usage error of a command's action that is missing or unknown. */
export function actionError(action: string | undefined): UsageError {
  return new UsageError(action === undefined ? 'missing action' : `unknown action: ${shown(action)}`)
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

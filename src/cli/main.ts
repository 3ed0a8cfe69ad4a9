#!/usr/bin/env node
import { errorText, sqlState, WebhookError } from '../errors.ts'
import { shown } from '../text.ts'
import { apiKeysCommand } from './api-keys.ts'
import { deliveriesCommand } from './deliveries.ts'
import { destinationsCommand } from './destinations.ts'
import { endpointsCommand } from './endpoints.ts'
import type { Command, Io } from './io.ts'
import { CommandError, HelpRequested, processIo, UsageError } from './io.ts'
import { listenCommand } from './listen.ts'
import { migrateCommand } from './migrate.ts'
import { portalCommand } from './portal.ts'
import { pruneCommand } from './prune.ts'
import { replayCommand } from './replay.ts'
import { secretsCommand } from './secrets.ts'
import { serveCommand } from './serve.ts'
import { workerCommand } from './worker.ts'

const commands: Record<string, Command> = {
  migrate: migrateCommand,
  worker: workerCommand,
  secrets: secretsCommand,
  deliveries: deliveriesCommand,
  replay: replayCommand,
  endpoints: endpointsCommand,
  destinations: destinationsCommand,
  prune: pruneCommand,
  listen: listenCommand,
  serve: serveCommand,
  'api-keys': apiKeysCommand,
  portal: portalCommand,
}

const usage = `imtegrate-webhooks <command> [options]

Commands:
  migrate       install or upgrade the database schema
  worker        run the webhook worker
  secrets       create or rotate an org's render-webhook secret
  deliveries    list deliveries, or show one with all of its attempts
  replay        send dropped (or delivered) deliveries again, by delivery, event, endpoint or org
  endpoints     register, list, update, disable, enable, delete org endpoints; rotate their secrets
  destinations  how each destination is delivered to now: in flight, due, healthy or backing off
  prune         delete the history (events, deliveries, attempts) that ended long ago
  listen        see signed webhooks arrive: a local receiver, sample renders (npm run demo)
  serve         serve the HTTP API (the org-scoped management API) on WEBHOOK_API_PORT
  api-keys      create, list or revoke the HTTP API's keys
  portal        a single-use link to the webhook portal for an org; its sessions, revoked

Run \`imtegrate-webhooks <command> --help\` for a command's options.`

/** Runs the CLI; resolves to the exit code (0 ok, 1 failure, 2 bad arguments). */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const [name, ...args] = argv
  if (name === undefined) {
    io.err(usage)
    return 2
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    io.out(usage)
    return 0
  }
  const command = commands[name]
  if (command === undefined) {
    io.err(`unknown command: ${shown(name)}\n\n${usage}`)
    return 2
  }
  // `-h` right after the command is a request for help; later, only the command's parser can
  // tell it from an option's value (`--reason -h`).
  if (args[0] === '--help' || args[0] === '-h') {
    io.out(command.usage)
    return 0
  }
  try {
    await command.run(args, io)
    return 0
  } catch (error) {
    if (error instanceof HelpRequested) {
      io.out(command.usage)
      return 0
    }
    if (error instanceof UsageError) {
      io.err(`${errorLines(error.message)}\n\nusage: ${command.usage}`)
      return 2
    }
    if (error instanceof CommandError || error instanceof WebhookError) {
      io.err(errorLines(error.message))
      return 1
    }
    // The network or the database gone, refusing or shutting down: one line an operator can act
    // on. Anything else is a bug, and its stack helps to report it.
    if (isOperational(error)) {
      io.err(errorLines(`${errorText(error)}${hint(error)}`))
      return 1
    }
    throw error
  }
}

/**
 * One `error: …` line per line of the message (one per bad variable of the configuration), each
 * printable and cut: a message may quote what was typed, or what the database said about it.
 * (Commands cut what they quote shorter; this is the bound for what they did not foresee.)
 */
function errorLines(message: string): string {
  return message
    .split('\n')
    .map((line) => `error: ${shown(line, MAX_LINE)}`)
    .join('\n')
}

const MAX_LINE = 2000

/**
 * An answer of the environment, not a fault of this program: a system error (ECONNREFUSED,
 * ENOTFOUND, ECONNRESET…) or PostgreSQL's refusal (any SQLSTATE: no such database or table, a
 * read-only standby, a permission, a shutdown). A JavaScript error with no code is a bug.
 */
function isOperational(error: unknown): boolean {
  if (error instanceof AggregateError) {
    return error.errors.length > 0 && error.errors.every(isOperational)
  }
  const code = (error as { code?: unknown } | null)?.code
  return (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) || sqlState(error) !== undefined
}

/** What an operator can do about a few PostgreSQL refusals. */
function hint(error: unknown): string {
  const state = sqlState(error)
  return state === '42P01' || state === '3F000'
    ? ' (is the database migrated? run `imtegrate-webhooks migrate`)'
    : ''
}

if (import.meta.main) {
  // `… | head` closes the pipe early: that is the reader's choice, not a failure.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') {
      process.exit(process.exitCode ?? 0)
    }
    throw error
  })
  process.exitCode = await main(process.argv.slice(2))
}

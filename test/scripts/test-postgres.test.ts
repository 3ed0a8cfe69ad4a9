import { existsSync } from 'node:fs'
import pg from 'pg'
import { describe, expect, it } from 'vitest'
import type { TestPostgresFacts } from '../../scripts/shared/test-postgres.ts'
import { choosePostgres, machineFacts, startTestPostgres } from '../../scripts/shared/test-postgres.ts'

/** Facts given outright, counting what the choice asked. */
function facts(local: boolean, docker: string | undefined) {
  const asked: string[] = []
  const given: TestPostgresFacts = {
    localAnswers: async () => {
      asked.push('local')
      return local
    },
    dockerProblem: async () => {
      asked.push('docker')
      return docker
    },
  }
  return { given, asked }
}

const NO_DOCKER = 'Could not find a working container runtime strategy'
// No Docker engine runs on some machines (CI's among them): the container test says so.
const dockerProblem = await machineFacts.dockerProblem()

describe('which PostgreSQL the tests use', () => {
  it.each([
    // TEST_POSTGRES, TEST_DATABASE_URL, 5432 answers, Docker problem -> use, url, facts asked
    [undefined, 'postgres://u@h:1/d', true, NO_DOCKER, 'url', 'postgres://u@h:1/d', []],
    [undefined, undefined, true, NO_DOCKER, 'url', 'postgres://postgres@127.0.0.1:5432/postgres', ['local']],
    [undefined, undefined, false, NO_DOCKER, 'embedded', undefined, ['local']],
    ['auto', '', false, undefined, 'embedded', undefined, ['local']],
    ['embedded', 'postgres://u@h:1/d', true, undefined, 'embedded', undefined, []],
    ['container', 'postgres://u@h:1/d', true, undefined, 'container', undefined, ['docker']],
    ['container', undefined, false, NO_DOCKER, 'embedded', undefined, ['docker', 'local']],
    ['container', 'postgres://u@h:1/d', false, NO_DOCKER, 'url', 'postgres://u@h:1/d', ['docker']],
  ] as const)(
    'TEST_POSTGRES=%s, TEST_DATABASE_URL=%s, 5432 answers: %s, Docker: %s -> %s %s',
    async (setting, url, local, docker, use, chosenUrl, asked) => {
      const machine = facts(local, docker)
      const choice = await choosePostgres({ TEST_POSTGRES: setting, TEST_DATABASE_URL: url }, machine.given)
      expect(choice.use).toBe(use)
      expect(choice.use === 'url' ? choice.url : undefined).toBe(chosenUrl)
      expect(machine.asked).toEqual(asked)
    },
  )

  it('says why a container was asked for and not used', async () => {
    const choice = await choosePostgres({ TEST_POSTGRES: 'container' }, facts(false, NO_DOCKER).given)
    expect(choice.why).toBe(
      `TEST_POSTGRES=container skipped: no Docker engine answers (${NO_DOCKER}); TEST_DATABASE_URL is unset and nothing answers on 127.0.0.1:5432`,
    )
  })

  it('refuses a TEST_POSTGRES it does not know, naming it', async () => {
    await expect(choosePostgres({ TEST_POSTGRES: 'docker' }, facts(true, undefined).given)).rejects.toThrow(
      'TEST_POSTGRES must be auto, embedded or container, got "docker"',
    )
  })

  it('starts an embedded PostgreSQL in a temporary directory, and removes it on stop', async () => {
    const server = await startTestPostgres({ use: 'embedded', why: 'asked' })
    const client = new pg.Client({ connectionString: server.url })
    await client.connect()
    const { rows } = await client.query<{ dir: string }>(`select current_setting('data_directory') as dir`)
    await client.end()
    expect(server.description).toContain('an embedded PostgreSQL at postgres://postgres@127.0.0.1:')
    await server.stop()
    const again = new pg.Client({ connectionString: server.url })
    await expect(again.connect()).rejects.toThrow(/ECONNREFUSED/)
    expect(existsSync(rows[0]?.dir ?? '/')).toBe(false)
  })

  it.skipIf(dockerProblem !== undefined)(
    `runs on testcontainers' PostgreSQL when a Docker engine answers${
      dockerProblem === undefined ? '' : ` (skipped here: no Docker engine answers: ${dockerProblem})`
    }`,
    async () => {
      const server = await startTestPostgres({ use: 'container', why: 'asked' })
      try {
        const client = new pg.Client({ connectionString: server.url })
        await client.connect()
        const { rows } = await client.query<{ ok: number }>('select 1 as ok')
        await client.end()
        expect(rows).toEqual([{ ok: 1 }])
      } finally {
        await server.stop()
      }
    },
    180_000,
  )
})

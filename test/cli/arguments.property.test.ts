import { spawnSync } from 'node:child_process'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Io } from '../../src/cli/io.ts'
import { main } from '../../src/cli/main.ts'
import { useSeededHistory } from '../helpers/history-seed.ts'

// Random argument lists, made of the words the command knows and of noise, never end in a stack
// trace or an exit code other than 0, 1 and 2. In process for speed; a few through the real
// process too, where a crash would show as it does to an operator.

const history = useSeededHistory()

const COMMANDS = [
  'migrate',
  'worker',
  'secrets',
  'deliveries',
  'replay',
  'endpoints',
  'destinations',
  'prune',
  'listen',
  'serve',
  'api-keys',
  'portal',
  'help',
  '--help',
  '-h',
  'bogus',
]
/** Commands that run until stopped when their arguments are good: given a database that refuses. */
const LONG_RUNNING = new Set(['worker', 'serve', 'listen'])
const REFUSING_DATABASE = 'postgres://postgres@127.0.0.1:1/none'

const ACTIONS = ['create', 'rotate', 'reencrypt', 'list', 'show', 'update', 'disable', 'enable', 'delete']
const MORE_ACTIONS = ['rotate-secret', 'revoke', 'link', 'sessions']
const FLAGS = [
  '--org',
  '--endpoint',
  '--status',
  '--since',
  '--until',
  '--limit',
  '--json',
  '--reason',
  '--force',
  '--url',
  '--events',
  '--delivery',
  '--event',
  '--dry-run',
  '--max-in-flight',
  '--rate-limit',
  '--description',
  '--older-than',
  '--backing-off',
  '--name',
  '--port',
  '--ttl',
  '--session-ttl',
  '--capability',
  '--read-only',
  '--all',
  '-h',
  '--help',
  '--',
  '-x',
  '-hx',
  '--org=',
  '--json=1',
  '--no-json',
]
const VALUES = [
  'org_1',
  'org_2',
  'org_prop',
  'ep_1',
  'ep_3',
  'ep_4',
  'dlv_nope',
  'evt_e1',
  '',
  '-h',
  '-1d',
  '24h',
  '7d',
  '99999999d',
  '2026-12-06T04:04',
  '2026-02-30',
  'dropped',
  'pending',
  '0',
  '10001',
  '1e21',
  '0',
  'https://example.com/x',
  'ftp://x',
  'video.*',
  'default',
  'none',
  '50/s',
  '\u001b]0;x\u0007',
  'é😀',
  'x'.repeat(300),
]

const word = fc.oneof(
  fc.constantFrom(...FLAGS),
  fc.constantFrom(...VALUES),
  fc.constantFrom(...ACTIONS, ...MORE_ACTIONS),
  fc.string({ maxLength: 12 }),
)
const argv = fc
  .tuple(fc.constantFrom(...COMMANDS), fc.array(word, { maxLength: 7 }))
  .map(([command, rest]) => [command, ...rest])

const STACK = /\n\s+at /

async function runInProcess(args: string[]): Promise<{ code: number; err: string }> {
  const err: string[] = []
  const url = LONG_RUNNING.has(args[0] ?? '') ? REFUSING_DATABASE : history.testDb.url
  const io: Io = {
    out: () => undefined,
    err: (text) => err.push(text),
    env: { DATABASE_URL: url },
    isTTY: false,
  }
  const code = await main(args, io)
  return { code, err: err.join('\n') }
}

describe('the argument parser, given random argument lists', () => {
  it('exits 0, 1 or 2, without a stack trace (in process)', async () => {
    await fc.assert(
      fc.asyncProperty(argv, async (args) => {
        const { code, err } = await runInProcess(args)
        expect([0, 1, 2]).toContain(code)
        expect(err).not.toMatch(STACK)
      }),
      { numRuns: 300, seed: 20261206 },
    )
  }, 120_000)

  it('exits 0, 1 or 2, without a stack trace (the real process)', () => {
    const samples = fc.sample(argv, { numRuns: 6, seed: 20261207 })
    for (const args of samples) {
      const url = LONG_RUNNING.has(args[0] ?? '') ? REFUSING_DATABASE : history.testDb.url
      const result = spawnSync(process.execPath, ['src/cli/main.ts', ...args], {
        encoding: 'utf8',
        env: { ...process.env, DATABASE_URL: url },
        timeout: 30_000,
      })
      expect([0, 1, 2], JSON.stringify({ args, stderr: result.stderr })).toContain(result.status)
      expect(result.stderr).not.toMatch(STACK)
    }
  }, 120_000)
})

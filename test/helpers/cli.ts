import type { Io } from '../../src/cli/io.ts'
import { main } from '../../src/cli/main.ts'
import type { TestDb } from './database.ts'

export type CliResult = { code: number; out: string; err: string }

/** Runs `imtegrate-webhooks …` in-process against a test database, capturing what it prints. */
export async function runCli(
  testDb: Pick<TestDb, 'url'>,
  argv: string[],
  env: Record<string, string> = {},
): Promise<CliResult> {
  const out: string[] = []
  const err: string[] = []
  const io: Io = {
    out: (text) => out.push(text),
    err: (text) => err.push(text),
    env: { DATABASE_URL: testDb.url, ...env },
    isTTY: false,
  }
  const code = await main(argv, io)
  return { code, out: out.join('\n'), err: err.join('\n') }
}

/** Runs a command with --json that must succeed, and parses what it printed. */
export async function runCliJson<T>(
  testDb: Pick<TestDb, 'url'>,
  argv: string[],
  env: Record<string, string> = {},
): Promise<T> {
  const result = await runCli(testDb, [...argv, '--json'], env)
  if (result.code !== 0) {
    throw new Error(`imtegrate-webhooks ${argv.join(' ')} exited ${result.code}: ${result.err}`)
  }
  return JSON.parse(result.out) as T
}

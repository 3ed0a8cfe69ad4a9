import { chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { WebhookError } from '../errors.ts'
import type { PostgresBinaries, ServerUser } from './postgres-binaries.ts'
import { runDetached } from './postgres-binaries.ts'

/** How a new cluster lets clients in: anyone local (throw-away clusters), or with a password. */
export type ClusterAuth = { method: 'trust' } | { method: 'password'; password: string }

/**
 * initdb of a cluster in `dataDir` (made, and as root handed to the server's user), superuser
 * `postgres`, UTF-8, messages in English (start-up failures are read from the log). `fast`
 * skips the fsyncs, for clusters thrown away after one run.
 */
export async function initCluster(
  binaries: PostgresBinaries,
  dataDir: string,
  auth: ClusterAuth,
  fast = false,
): Promise<void> {
  await mkdir(dataDir, { recursive: true })
  await handOver(binaries.user, dataDir)
  const args = ['-D', dataDir, '-U', 'postgres', '-E', 'UTF8', '--locale=C', `--auth=${auth.method}`]
  let pwDir: string | undefined
  try {
    if (auth.method === 'password') {
      pwDir = await mkdtemp(join(tmpdir(), 'imtegrate-webhooks-pw-'))
      const pwFile = join(pwDir, 'password')
      await writeFile(pwFile, `${auth.password}\n`, { mode: 0o600 })
      await handOver(binaries.user, pwDir)
      await handOver(binaries.user, pwFile)
      args.push(`--pwfile=${pwFile}`)
    }
    await runAs(binaries, 'initdb', [...args, ...(fast ? ['--no-sync'] : [])])
  } finally {
    if (pwDir !== undefined) {
      await rm(pwDir, { recursive: true, force: true })
    }
  }
}

/**
 * pg_ctl on `dataDir`, as the server's user, in a process group of its own: Ctrl-C in a terminal
 * must not reach pg_ctl, nor the server it starts (whoever started it stops it in its own time).
 */
export function pgCtl(binaries: PostgresBinaries, dataDir: string, args: string[]): Promise<void> {
  return runAs(binaries, 'pg_ctl', ['-D', dataDir, ...args])
}

/** Makes `path` the server user's (as root; otherwise it is this process's user already). */
export async function handOver(user: ServerUser, path: string): Promise<void> {
  if (user.uid !== undefined) {
    await chown(path, user.uid, user.gid ?? user.uid)
  }
}

/** Runs a binary as the server's user, detached; rejects with its stderr unless it exits 0. */
async function runAs(binaries: PostgresBinaries, name: string, args: string[]): Promise<void> {
  const finished = await runDetached(join(binaries.bin, name), args, binaries.user, {
    ...process.env,
    LC_MESSAGES: 'C',
  })
  if (finished.code !== 0) {
    throw new WebhookError(
      'EMBEDDED_POSTGRES_FAILED',
      finished.stderr.trim() || `${name} ended with ${finished.code ?? finished.signal}`,
    )
  }
}

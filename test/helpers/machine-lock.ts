import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

/**
 * A lock held across processes of this machine (other checkouts' test runs too), for tests that
 * need something only one may use at a time, such as a fixed port. mkdir is atomic; the owner's
 * pid is written inside, and a lock whose owner died is taken over. Resolves to its release.
 */
export async function machineLock(name: string, timeoutMs: number): Promise<() => Promise<void>> {
  const dir = join(tmpdir(), `imtegrate-webhooks-${name}.lock`)
  const owner = join(dir, 'pid')
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      await mkdir(dir)
      await writeFile(owner, String(process.pid))
      return () => rm(dir, { recursive: true, force: true })
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw error
      }
    }
    const pid = Number(await readFile(owner, 'utf8').catch(() => ''))
    if (pid > 0 && !alive(pid)) {
      await rm(dir, { recursive: true, force: true })
      continue
    }
    if (Date.now() > deadline) {
      throw new Error(`${dir} is still held by process ${pid || '(starting)'} after ${timeoutMs} ms`)
    }
    // Waiting for another run to finish with it, not for a result.
    await sleep(500)
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

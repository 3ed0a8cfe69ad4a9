import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const run = promisify(execFile)
const SCRIPT = fileURLToPath(new URL('../../scripts/chaos.ts', import.meta.url))

// End to end, in its own PostgreSQL cluster: scripts/chaos.ts --tiny records events for 6 s,
// SIGKILLs a worker once and restarts PostgreSQL once, then checks every delivery. It exits
// non-zero on any loss, which makes execFile reject with the script's output.
describe('the chaos script', () => {
  it('loses no delivery when a worker is SIGKILLed and PostgreSQL restarts under load', async () => {
    const { stdout } = await run(process.execPath, [SCRIPT, '--tiny'], { timeout: 85_000 })

    expect(stdout).toMatch(/\| \*\*lost\*\* +\| \*\*0\*\* \|/)
    expect(stdout).toMatch(/\| workers SIGKILLed +\| 1 \|/)
    expect(stdout).toMatch(/\| PostgreSQL restarts \(downtime\) +\| 1 /)
    expect(stdout).toMatch(/\| events recorded \(committed\) +\| [1-9]/)
  }, 90_000)
})

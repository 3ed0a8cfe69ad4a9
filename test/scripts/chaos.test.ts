import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { PrivateCheckout } from '../helpers/private-checkout.ts'
import { makePrivateCheckout } from '../helpers/private-checkout.ts'

const run = promisify(execFile)

// End to end, in its own PostgreSQL cluster: scripts/chaos.ts --tiny records events for 6 s,
// SIGKILLs a worker once and restarts PostgreSQL once, then checks every delivery. It exits
// non-zero on any loss, which makes execFile reject with the script's output. Run from a
// checkout inside a directory only its owner may enter: as root, the cluster runs as postgres,
// which cannot reach that checkout's node_modules.
let checkout: PrivateCheckout | undefined
beforeAll(async () => {
  checkout = await makePrivateCheckout()
})
afterAll(async () => {
  await checkout?.remove()
})

describe('the chaos script', () => {
  it('loses no delivery when a worker is SIGKILLed and PostgreSQL restarts under load', async () => {
    const dir = (checkout as PrivateCheckout).dir
    const { stdout } = await run(process.execPath, [join(dir, 'scripts/chaos.ts'), '--tiny'], {
      cwd: dir,
      timeout: 85_000,
    })

    expect(stdout).toMatch(/\| \*\*lost\*\* +\| \*\*0\*\* \|/)
    expect(stdout).toMatch(/\| workers SIGKILLed +\| 1 \|/)
    expect(stdout).toMatch(/\| PostgreSQL restarts \(downtime\) +\| 1 /)
    expect(stdout).toMatch(/\| events recorded \(committed\) +\| [1-9]/)
  }, 90_000)
})

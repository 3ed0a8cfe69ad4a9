import { setTimeout as delay } from 'node:timers/promises'
import { generateSecret } from '../../src/delivery/sign.ts'
import { createSecretBox } from '../../src/secret-box.ts'
import type { Db } from '../../src/store/database.ts'
import { createOrgSecret } from '../../src/store/secrets.ts'
import { outstandingWork } from './facts.ts'
import type { ChaosReceiver } from './receiver.ts'

export const ORG_ID = 'org_chaos'
const ENDPOINTS = [
  { id: 'ep_chaos_a', path: '/ep/a' },
  { id: 'ep_chaos_b', path: '/ep/b' },
] as const

/**
 * The org's render-webhook secret and two org endpoints, all sealed under the workers' key, and
 * the receiver told which secret signs each path. Every event then has three destinations.
 * Returns delivery destination -> receiver path.
 */
export async function setUpOrg(
  db: Db,
  receiver: ChaosReceiver,
  secretsKey: string,
): Promise<Map<string, string>> {
  const box = createSecretBox(secretsKey)
  const orgSecret = generateSecret()
  await createOrgSecret(db, ORG_ID, box.seal(orgSecret))
  const secrets: Record<string, string> = { '/render': orgSecret }
  const paths = new Map<string, string>([['render_url', '/render']])
  for (const endpoint of ENDPOINTS) {
    const secret = generateSecret()
    // Inserted directly: the endpoint CLI is another task's, and this is all a row needs.
    await db
      .insertInto('webhooks.endpoints')
      .values({
        id: endpoint.id,
        org_id: ORG_ID,
        url: receiver.url(endpoint.path),
        description: 'chaos run',
        event_types: null,
        secret: box.seal(secret),
        previous_secret: null,
        previous_expires_at: null,
        disabled_reason: null,
        disabled_at: null,
        deleted_at: null,
      })
      .execute()
    secrets[endpoint.path] = secret
    paths.set(endpoint.id, endpoint.path)
  }
  await receiver.setSecrets(secrets)
  return paths
}

/** Waits until `count` worker pools have registered (each worker has migrated and started). */
export async function waitForWorkers(db: Db, count: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const row = await db
      .selectFrom('webhooks.worker_pools')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .executeTakeFirstOrThrow()
    if (Number(row.count) >= count) {
      return
    }
    await delay(200)
  }
  throw new Error(`${count} workers did not start within ${timeoutMs} ms (see the worker log)`)
}

/** Waits until nothing is left to fan out or deliver, for at most `maxMs`. */
export async function drain(db: Db, maxMs: number): Promise<{ done: boolean; ms: number }> {
  const started = Date.now()
  let lastReport = started
  while (Date.now() - started < maxMs) {
    const work = await outstandingWork(db)
    if (work.unfanned === 0 && work.open === 0) {
      return { done: true, ms: Date.now() - started }
    }
    if (Date.now() - lastReport >= 5_000) {
      lastReport = Date.now()
      console.log(`  draining: ${work.unfanned} events to fan out, ${work.open} deliveries open`)
    }
    await delay(250)
  }
  return { done: false, ms: Date.now() - started }
}

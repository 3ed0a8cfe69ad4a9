import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { WebhooksApi } from '../../src/api/webhooks-api.ts'
import { testApi } from '../helpers/api.ts'
import type { TestDb } from '../helpers/database.ts'
import { createTestDatabase } from '../helpers/database.ts'

let testDb: TestDb
let api: WebhooksApi

beforeAll(async () => {
  testDb = await createTestDatabase()
  api = testApi(testDb)
})
afterAll(() => testDb?.drop())

// Few distinct creation times, so many rows tie on created_at and the id decides their order.
const BASE = Date.parse('2026-05-04T10:00:00.000Z')
const at = (slot: number) => new Date(BASE + slot * 1_000 + (slot % 3) * 0.25).toISOString()

let seq = 0
/** Inserts one delivery (with its event) of `org` made at `slot`; returns its id. */
async function addDelivery(org: string, slot: number): Promise<string> {
  const n = String(++seq).padStart(8, '0')
  // Random-looking ids that do not follow creation order: the order must come from the keyset.
  const id = `dlv_${(seq * 7919) % 1000}_${n}`
  await testDb.pool.query(
    `with e as (insert into webhooks.events (id, org_id, type, subject_id, data, created_at, fanned_out_at)
       values ($1, $2, 'image.completed', $1, '{}', $4, $4) returning id)
     insert into webhooks.deliveries (id, event_id, org_id, destination, url, status, created_at)
     select $3, e.id, $2, 'render_url', 'https://example.com/', 'delivered', $4 from e`,
    [`evt_${n}`, org, id, at(slot)],
  )
  return id
}

type Page = { data: Array<{ id: string }>; next_cursor: string | null; prev_cursor: string | null }

/**
 * Follows one direction's cursors from `start` until they end, adding rows before every page.
 * Returns the ids seen in listing order (newest first) and the last page.
 */
async function walk(
  org: string,
  limit: number,
  start: { after?: string; before?: string },
  direction: 'next' | 'prev',
  additions: number[][],
): Promise<{ seen: string[]; last: Page }> {
  const seen: string[] = []
  let cursor = start
  for (let pages = 0; pages < 500; pages++) {
    for (const slot of additions[pages % additions.length] ?? []) {
      await addDelivery(org, slot)
    }
    const page: Page = await api.listDeliveries(org, { limit, ...cursor })
    const ids = page.data.map((d) => d.id)
    if (direction === 'next') {
      seen.push(...ids)
    } else {
      seen.unshift(...ids)
    }
    const next = direction === 'next' ? page.next_cursor : page.prev_cursor
    if (next === null) {
      return { seen, last: page }
    }
    cursor = direction === 'next' ? { after: next } : { before: next }
  }
  throw new Error('the walk did not end')
}

const listed = async (org: string) => (await api.listDeliveries(org, { limit: 100 })).data.map((d) => d.id)

describe('delivery pagination', () => {
  it('never skips or repeats a row, in either direction, while rows are added', async () => {
    let run = 0
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 9 }), { maxLength: 30 }),
        fc.integer({ min: 1, max: 7 }),
        fc.array(fc.array(fc.integer({ min: 0, max: 12 }), { maxLength: 3 }), { minLength: 1, maxLength: 4 }),
        async (slots, limit, additions) => {
          const org = `org_page_${++run}`
          for (const slot of slots) {
            await addDelivery(org, slot)
          }
          const initial = await listed(org)
          const forward = await walk(org, limit, {}, 'next', additions)
          // Every row present at the start is seen once, in the listing's order; none twice.
          expect(new Set(forward.seen).size).toBe(forward.seen.length)
          expect(forward.seen.filter((id) => initial.includes(id))).toEqual(initial)

          // Back from the last page to the first, as a "newer" button does.
          const before = await listed(org)
          const back = forward.last.prev_cursor
          const seen = back === null ? [] : (await walk(org, limit, { before: back }, 'prev', additions)).seen
          const all = [...seen, ...forward.last.data.map((d) => d.id)]
          expect(new Set(all).size).toBe(all.length)
          expect(all.filter((id) => before.includes(id))).toEqual(before)
        },
      ),
      // Seeded: a walk that keeps adding rows older than its cursor can run to hundreds of pages,
      // and an unlucky random draw made this test take minutes on a busy machine.
      { numRuns: 20, seed: 20261206 },
    )
  }, 180_000)
})

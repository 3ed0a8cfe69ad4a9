import { describe, expect, it, vi } from 'vitest'
import { useDeliveryStack } from '../helpers/stack.ts'
import { attemptsOf, deliveryOf, giveOrgASecret, recordCompleted } from '../reliability/fixtures.ts'

const STEP_MS = 100

const stack = useDeliveryStack({ WEBHOOK_RETRY_SCHEDULE: `${STEP_MS}ms,${STEP_MS}ms` }, giveOrgASecret)

/** Scripts `path` to answer `first` once, then 200; returns the two arrival times and the attempt log. */
async function twoAttempts(path: string, first: { status: number; headers?: Record<string, string> }) {
  stack.receiver.on(path, (n) => (n === 1 ? first : { status: 200 }))
  const eventId = await recordCompleted(stack.testDb, stack.receiver.url(path))
  await vi.waitFor(async () => expect((await deliveryOf(stack.testDb, eventId)).status).toBe('delivered'), {
    timeout: 10_000,
  })
  const arrivals = stack.receiver.requests.filter((r) => r.path === path)
  expect(arrivals).toHaveLength(2)
  const gap = (arrivals[1]?.at ?? 0) - (arrivals[0]?.at ?? 0)
  return { gap, attempts: await attemptsOf(stack.testDb, eventId) }
}

describe('a receiver asking for time with Retry-After', () => {
  it.each([429, 503])(
    'answering %i with Retry-After: 1 is not retried before a second has passed',
    async (status) => {
      const { gap, attempts } = await twoAttempts(`/busy-${status}`, {
        status,
        headers: { 'retry-after': '1' },
      })
      expect(gap).toBeGreaterThanOrEqual(1_000)
      expect(gap).toBeLessThan(5_000)
      const [first] = attempts
      expect(first?.outcome).toBe('retrying')
      expect(first?.error_code).toBe(`http_${status}`)
      // The retry time the log shows is the one the receiver asked for, measured from the answer.
      const asked = (first?.retry_at?.getTime() ?? 0) - (first?.started_at.getTime() ?? 0)
      expect(asked).toBeGreaterThanOrEqual(1_000)
    },
  )

  it('answering 429 with an HTTP date is retried no earlier than that date', async () => {
    const at = new Date(Math.ceil((Date.now() + 1_500) / 1_000) * 1_000)
    const { gap } = await twoAttempts('/busy-date', {
      status: 429,
      headers: { 'retry-after': at.toUTCString() },
    })
    const second = stack.receiver.requests.filter((r) => r.path === '/busy-date')[1]
    expect(second?.at).toBeGreaterThanOrEqual(at.getTime())
    expect(gap).toBeLessThan(5_000)
  })

  it('is retried on the schedule when the status is not 429 or 503 (Retry-After is ignored)', async () => {
    const { gap } = await twoAttempts('/error-with-retry-after', {
      status: 500,
      headers: { 'retry-after': '5' },
    })
    expect(gap).toBeGreaterThanOrEqual(STEP_MS)
    expect(gap).toBeLessThan(1_000)
  })

  it('is retried on the schedule when Retry-After is unreadable', async () => {
    const { gap } = await twoAttempts('/busy-garbage', { status: 503, headers: { 'retry-after': 'later' } })
    expect(gap).toBeGreaterThanOrEqual(STEP_MS)
    expect(gap).toBeLessThan(1_000)
  })
})

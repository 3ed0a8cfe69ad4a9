export type EventForBody = { type: string; created_at: Date; data: unknown }

/**
 * The exact body of every attempt of an event's deliveries (contract section 1): the keys
 * type, created_at (UTC, to the second) and data, in that order. `data` is stored as json, so
 * its key order is the contract's too. The same event always renders to the same bytes.
 */
export function renderBody(event: EventForBody): string {
  const createdAt = event.created_at.toISOString().replace(/\.\d{3}Z$/, 'Z')
  return JSON.stringify({ type: event.type, created_at: createdAt, data: event.data })
}

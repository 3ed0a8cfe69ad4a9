import type pg from 'pg'

/** The channel recorders NOTIFY (webhooks.wake_dispatcher) when a worker listens idle. */
const CHANNEL = 'webhooks_outbox'

/** Subscribes a dedicated connection to the recorders' wake-ups. */
export function listenForRecordings(client: pg.ClientBase): Promise<unknown> {
  return client.query(`listen ${CHANNEL}`)
}

/** A round trip on a listening connection, proving it still answers. */
export function probeConnection(client: pg.ClientBase): Promise<unknown> {
  return client.query('select 1')
}

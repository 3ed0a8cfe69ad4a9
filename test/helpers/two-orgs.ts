import { sql } from 'kysely'
import type { WebhooksApi } from '../../src/api/webhooks-api.ts'
import type { TestDb } from './database.ts'
import { seedDropped } from './dropped.ts'

export type OrgIds = {
  org: string
  endpoints: string[]
  deliveries: string[]
  recoveries: string[]
  renders: string[]
}

/**
 * An org with something of every kind: an active and a disabled endpoint, dropped and delivered
 * deliveries (with render ids), a recovery and a render-webhook secret.
 */
export async function populateOrg(testDb: TestDb, api: WebhooksApi, org: string): Promise<OrgIds> {
  const active = await api.createEndpoint(org, { url: `https://${org.replaceAll('_', '-')}.example.com/a` })
  const disabled = await api.createEndpoint(org, { url: `https://${org.replaceAll('_', '-')}.example.com/d` })
  await api.disableEndpoint(org, { endpoint_id: disabled.id })
  const dropped = await seedDropped(testDb, org, active.id, 3)
  await sql`update webhooks.deliveries set status = 'delivered', dropped_at = null, delivered_at = now()
    where id = ${dropped[0] ?? ''}`.execute(testDb.db)
  const recovery = await api.startRecovery(org, {
    endpoint_id: active.id,
    since: new Date(Date.now() - 3_600_000).toISOString(),
  })
  await api.createOrgSecret(org)
  const { rows } = await sql<{ subject_id: string }>`select e.subject_id from webhooks.events e
    where e.org_id = ${org} order by e.id`.execute(testDb.db)
  return {
    org,
    endpoints: [active.id, disabled.id],
    deliveries: dropped,
    recoveries: [recovery.id],
    renders: rows.map((r) => r.subject_id),
  }
}

/** Everything stored for an org, to compare before and after another org's calls. */
export async function orgSnapshot(testDb: TestDb, org: string): Promise<unknown> {
  const { rows } = await sql<{ snapshot: unknown }>`select json_build_object(
      'endpoints', (select json_agg(t order by t.id) from webhooks.endpoints t where t.org_id = ${org}),
      'events', (select json_agg(t order by t.id) from webhooks.events t where t.org_id = ${org}),
      'deliveries', (select json_agg(t order by t.id) from webhooks.deliveries t where t.org_id = ${org}),
      'recoveries', (select json_agg(t order by t.id) from webhooks.recoveries t where t.org_id = ${org}),
      'secret', (select json_agg(t) from webhooks.org_secrets t where t.org_id = ${org}),
      'jobs', (select count(*) from graphile_worker.jobs)) as snapshot`.execute(testDb.db)
  return rows[0]?.snapshot
}

export type IdKind = 'endpoint' | 'delivery' | 'recovery' | 'render'

/** A call of one operation naming one id, as the TypeScript API and the HTTP API make it. */
export type IdCall = {
  name: string
  kind: IdKind
  /** The TypeScript API call. */
  call(api: WebhooksApi, org: string, id: string): Promise<unknown>
  /** The same call over HTTP: method, path under /v1/orgs/{org}, body. */
  http(id: string): { method: string; path: string; body?: unknown }
}

const since = () => new Date(Date.now() - 3_600_000).toISOString()

/** Every operation that names an id, each as it reads, changes, replays or confirms it. */
export const ID_CALLS: readonly IdCall[] = [
  {
    name: 'getEndpoint',
    kind: 'endpoint',
    call: (api, org, id) => api.getEndpoint(org, { endpoint_id: id }),
    http: (id) => ({ method: 'GET', path: `/endpoints/${id}` }),
  },
  {
    name: 'updateEndpoint',
    kind: 'endpoint',
    call: (api, org, id) =>
      api.updateEndpoint(org, { endpoint_id: id, url: 'https://attacker.example.com/' }),
    http: (id) => ({
      method: 'PATCH',
      path: `/endpoints/${id}`,
      body: { url: 'https://attacker.example.com/' },
    }),
  },
  {
    name: 'disableEndpoint',
    kind: 'endpoint',
    call: (api, org, id) => api.disableEndpoint(org, { endpoint_id: id }),
    http: (id) => ({ method: 'POST', path: `/endpoints/${id}/disable`, body: {} }),
  },
  {
    name: 'enableEndpoint',
    kind: 'endpoint',
    call: (api, org, id) => api.enableEndpoint(org, { endpoint_id: id }),
    http: (id) => ({ method: 'POST', path: `/endpoints/${id}/enable`, body: {} }),
  },
  {
    name: 'deleteEndpoint',
    kind: 'endpoint',
    call: (api, org, id) => api.deleteEndpoint(org, { endpoint_id: id }),
    http: (id) => ({ method: 'DELETE', path: `/endpoints/${id}` }),
  },
  {
    name: 'rotateEndpointSecret',
    kind: 'endpoint',
    call: (api, org, id) => api.rotateEndpointSecret(org, { endpoint_id: id, force: true }),
    http: (id) => ({ method: 'POST', path: `/endpoints/${id}/rotate-secret`, body: { force: true } }),
  },
  {
    name: 'revealEndpointSecret',
    kind: 'endpoint',
    call: (api, org, id) => api.revealEndpointSecret(org, { endpoint_id: id }),
    http: (id) => ({ method: 'GET', path: `/endpoints/${id}/secret` }),
  },
  {
    name: 'sendTestEvent',
    kind: 'endpoint',
    call: (api, org, id) => api.sendTestEvent(org, { endpoint_id: id, event_type: 'image.completed' }),
    http: (id) => ({
      method: 'POST',
      path: `/endpoints/${id}/test`,
      body: { event_type: 'image.completed' },
    }),
  },
  {
    name: 'countRecoverable',
    kind: 'endpoint',
    call: (api, org, id) => api.countRecoverable(org, { endpoint_id: id, since: since() }),
    http: (id) => ({
      method: 'GET',
      path: `/endpoints/${id}/recoverable?since=${encodeURIComponent(since())}`,
    }),
  },
  {
    name: 'startRecovery',
    kind: 'endpoint',
    call: (api, org, id) => api.startRecovery(org, { endpoint_id: id, since: since() }),
    http: (id) => ({ method: 'POST', path: '/recoveries', body: { endpoint_id: id, since: since() } }),
  },
  {
    name: 'listDeliveries by endpoint',
    kind: 'endpoint',
    call: (api, org, id) => api.listDeliveries(org, { endpoint_id: [id] }),
    http: (id) => ({ method: 'GET', path: `/deliveries?endpoint_id=${id}` }),
  },
  {
    name: 'listDeliveries by render',
    kind: 'render',
    call: (api, org, id) => api.listDeliveries(org, { render_id: [id] }),
    http: (id) => ({ method: 'GET', path: `/deliveries?render_id=${id}` }),
  },
  {
    name: 'getDelivery',
    kind: 'delivery',
    call: (api, org, id) => api.getDelivery(org, { delivery_id: id }),
    http: (id) => ({ method: 'GET', path: `/deliveries/${id}` }),
  },
  {
    name: 'replayDelivery',
    kind: 'delivery',
    call: (api, org, id) => api.replayDelivery(org, { delivery_id: id }),
    http: (id) => ({ method: 'POST', path: `/deliveries/${id}/replay`, body: {} }),
  },
  {
    name: 'getRecovery',
    kind: 'recovery',
    call: (api, org, id) => api.getRecovery(org, { recovery_id: id }),
    http: (id) => ({ method: 'GET', path: `/recoveries/${id}` }),
  },
]

/** The ids of `kind` an org holds. */
export function idsOf(org: OrgIds, kind: IdKind): string[] {
  return { endpoint: org.endpoints, delivery: org.deliveries, recovery: org.recoveries, render: org.renders }[
    kind
  ]
}

/** An id of `kind` shaped like a real one, that nothing holds. */
export function unknownId(kind: IdKind, n: number): string {
  const prefix = { endpoint: 'ep', delivery: 'dlv', recovery: 'rcv', render: 'img' }[kind]
  return `${prefix}_${n.toString(16).padStart(12, '0')}00000000000000000000`
}

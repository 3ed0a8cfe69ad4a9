import type { Db, PortalCapabilityName } from '../store/database.ts'
import type { NewEndpoint } from '../store/endpoints.ts'
import { createEndpoint } from '../store/endpoints.ts'
import type { DeliveryFilters, DeliveryPage } from '../store/org-deliveries.ts'
import {
  findOrgDelivery,
  insertTestDelivery,
  listOrgDeliveries,
  replayOrgDelivery,
} from '../store/org-deliveries.ts'
import type { EndpointChanges, IdPage } from '../store/org-endpoints.ts'
import {
  deleteOrgEndpoint,
  disableOrgEndpoint,
  enableOrgEndpoint,
  findOrgEndpoint,
  listOrgEndpoints,
  orgEndpointSecret,
  rotateOrgEndpointSecret,
  updateOrgEndpoint,
} from '../store/org-endpoints.ts'
import {
  insertPortalLink,
  listOrgPortalSessions,
  revokeOrgPortalSession,
  revokeOrgPortalSessions,
} from '../store/portal.ts'
import { countRecoverable, createRecovery, findOrgRecovery, listOrgRecoveries } from '../store/recoveries.ts'
import { createOrgSecret, findOrgSecret, rotateOrgSecret } from '../store/secrets.ts'

/**
 * Org scoping, in one place. The API's operations never hold the database: they get this object,
 * made for one org, whose every query is bound to that org here. A row of another org is not
 * found, not listed, not changed, exactly like an id that does not exist; an operation that needs
 * a query not listed here cannot reach the data at all (deny by default).
 */
export function orgStore(db: Db, org: string) {
  return {
    org,
    endpoints: {
      create: (e: Omit<NewEndpoint, 'orgId'>) => createEndpoint(db, { ...e, orgId: org }),
      list: (page: IdPage) => listOrgEndpoints(db, org, page),
      find: (id: string) => findOrgEndpoint(db, org, id),
      update: (id: string, changes: EndpointChanges) => updateOrgEndpoint(db, org, id, changes),
      disable: (id: string, reason: string) => disableOrgEndpoint(db, org, id, reason),
      enable: (id: string) => enableOrgEndpoint(db, org, id),
      delete: (id: string) => deleteOrgEndpoint(db, org, id),
      rotateSecret: (id: string, sealed: string, graceMs: number, force: boolean) =>
        rotateOrgEndpointSecret(db, org, id, sealed, graceMs, force),
      secret: (id: string) => orgEndpointSecret(db, org, id),
      sendTest: (id: string, type: string, data: unknown) => insertTestDelivery(db, org, id, type, data),
    },
    deliveries: {
      list: (filters: DeliveryFilters, page: DeliveryPage) => listOrgDeliveries(db, org, filters, page),
      find: (id: string) => findOrgDelivery(db, org, id),
      replay: (id: string) => replayOrgDelivery(db, org, id),
    },
    recoveries: {
      count: async (endpointId: string, since: Date) =>
        (await findOrgEndpoint(db, org, endpointId)) === undefined
          ? undefined
          : countRecoverable(db, endpointId, since),
      create: (endpointId: string, since: Date) => createRecovery(db, org, endpointId, since),
      find: (id: string) => findOrgRecovery(db, org, id),
      list: (page: IdPage) => listOrgRecoveries(db, org, page),
    },
    portal: {
      createLink: (link: {
        id: string
        secretHash: string
        capabilities: readonly PortalCapabilityName[]
        ttlMs: number
        sessionSeconds: number
      }) => insertPortalLink(db, { ...link, orgId: org }),
      sessions: () => listOrgPortalSessions(db, org),
      revokeSession: (id: string) => revokeOrgPortalSession(db, org, id),
      revokeAll: () => revokeOrgPortalSessions(db, org),
    },
    secret: {
      find: () => findOrgSecret(db, org),
      create: (sealed: string) => createOrgSecret(db, org, sealed),
      rotate: (sealed: string, graceMs: number, force: boolean) =>
        rotateOrgSecret(db, org, sealed, graceMs, force),
    },
  }
}

export type OrgStore = ReturnType<typeof orgStore>

import type { OperationName } from '../webhooks-api.ts'

/** Where each operation is served, under /v1/orgs/{org}; the answer's status when it succeeds. */
export type RouteSpec = {
  operation: OperationName
  method: 'get' | 'post' | 'patch' | 'delete'
  path: string
  status: 200 | 201 | 202
}

export const ROUTES: readonly RouteSpec[] = [
  { operation: 'createEndpoint', method: 'post', path: '/endpoints', status: 201 },
  { operation: 'listEndpoints', method: 'get', path: '/endpoints', status: 200 },
  { operation: 'getEndpoint', method: 'get', path: '/endpoints/{endpoint_id}', status: 200 },
  { operation: 'updateEndpoint', method: 'patch', path: '/endpoints/{endpoint_id}', status: 200 },
  { operation: 'deleteEndpoint', method: 'delete', path: '/endpoints/{endpoint_id}', status: 200 },
  { operation: 'disableEndpoint', method: 'post', path: '/endpoints/{endpoint_id}/disable', status: 200 },
  { operation: 'enableEndpoint', method: 'post', path: '/endpoints/{endpoint_id}/enable', status: 200 },
  {
    operation: 'rotateEndpointSecret',
    method: 'post',
    path: '/endpoints/{endpoint_id}/rotate-secret',
    status: 200,
  },
  { operation: 'revealEndpointSecret', method: 'get', path: '/endpoints/{endpoint_id}/secret', status: 200 },
  { operation: 'sendTestEvent', method: 'post', path: '/endpoints/{endpoint_id}/test', status: 202 },
  { operation: 'countRecoverable', method: 'get', path: '/endpoints/{endpoint_id}/recoverable', status: 200 },
  { operation: 'startRecovery', method: 'post', path: '/recoveries', status: 202 },
  { operation: 'listRecoveries', method: 'get', path: '/recoveries', status: 200 },
  { operation: 'getRecovery', method: 'get', path: '/recoveries/{recovery_id}', status: 200 },
  { operation: 'listDeliveries', method: 'get', path: '/deliveries', status: 200 },
  { operation: 'getDelivery', method: 'get', path: '/deliveries/{delivery_id}', status: 200 },
  { operation: 'replayDelivery', method: 'post', path: '/deliveries/{delivery_id}/replay', status: 202 },
  { operation: 'getOrgSecret', method: 'get', path: '/secret', status: 200 },
  { operation: 'createOrgSecret', method: 'post', path: '/secret', status: 201 },
  { operation: 'rotateOrgSecret', method: 'post', path: '/secret/rotate', status: 200 },
  { operation: 'revealOrgSecret', method: 'get', path: '/secret/reveal', status: 200 },
  { operation: 'createPortalLink', method: 'post', path: '/portal-links', status: 201 },
  { operation: 'listPortalSessions', method: 'get', path: '/portal-sessions', status: 200 },
  {
    operation: 'revokePortalSession',
    method: 'post',
    path: '/portal-sessions/{session_id}/revoke',
    status: 200,
  },
  { operation: 'revokePortalSessions', method: 'post', path: '/portal-sessions/revoke', status: 200 },
]

import type { Hono } from 'hono'
import { WebhookError } from '../../errors.ts'
import type { PortalCapabilityName } from '../../store/database.ts'
import type { PortalContext, PortalOptions } from './context.ts'
import { doneNotice, field, fields, page, run, utcTime } from './context.ts'
import { endpointPage, recoverConfirmPage, recoveryPage, secretPage } from './pages/endpoint.ts'
import { endpointsPage } from './pages/endpoints.ts'
import type { PortalEnv } from './security.ts'
import { can } from './sessions.ts'

const body = (c: PortalContext) => c.req.parseBody({ all: true }) as Promise<Record<string, unknown>>

const pageInput = (c: PortalContext) => {
  const after = c.req.query('after')
  const before = c.req.query('before')
  return { limit: 50, ...(after === undefined ? {} : { after }), ...(before === undefined ? {} : { before }) }
}

/** Endpoints: list and register; one endpoint and what can be done to it; recovering its dropped deliveries. */
export function registerEndpointRoutes(app: Hono<PortalEnv>, options: PortalOptions): void {
  app.get(
    '/endpoints',
    page(async (c) => {
      const list = await run(options, c, 'listEndpoints', pageInput(c))
      return c.html(endpointsPage(c.get('session'), list, c.req.url, doneNotice(c)))
    }),
  )

  app.post(
    '/endpoints',
    page(
      async (c) => {
        const form = await body(c)
        const typed = {
          url: field(form, 'url').trim(),
          description: field(form, 'description').trim(),
          eventTypes: fields(form, 'event_types'),
        }
        try {
          const created = await run(options, c, 'createEndpoint', {
            url: typed.url,
            ...(typed.description === '' ? {} : { description: typed.description }),
            ...(typed.eventTypes.length === 0 ? {} : { event_types: typed.eventTypes }),
          })
          if (!can(c.get('session'), 'view_secrets')) {
            return c.redirect(`/portal/endpoints/${created.id}?done=registered`, 303)
          }
          return c.html(secretPage(c.get('session'), created, created.secret, 'Endpoint registered'))
        } catch (error) {
          if (!(error instanceof WebhookError) || error.code !== 'INVALID_ARGUMENT') {
            throw error
          }
          const list = await run(options, c, 'listEndpoints', { limit: 50 })
          const form = { ...typed, error: `Not registered: ${error.message}.` }
          return c.html(endpointsPage(c.get('session'), list, '/portal/endpoints', undefined, form), 400)
        }
      },
      ['manage_endpoints'],
    ),
  )

  app.get(
    '/endpoints/:id',
    page(async (c) => {
      const endpoint = await run(options, c, 'getEndpoint', { endpoint_id: c.req.param('id') })
      return c.html(endpointPage(c.get('session'), endpoint, doneNotice(c)))
    }),
  )

  registerEndpointActions(app, options)
  registerRecovery(app, options)
}

function registerEndpointActions(app: Hono<PortalEnv>, options: PortalOptions): void {
  const back = (c: PortalContext, done: string) =>
    c.redirect(`/portal/endpoints/${c.req.param('id') ?? ''}?done=${done}`, 303)
  const action = (
    path: string,
    needs: readonly PortalCapabilityName[],
    handler: (c: PortalContext, id: string) => Promise<Response>,
  ) =>
    app.post(
      `/endpoints/:id/${path}`,
      page((c) => handler(c, c.req.param('id') ?? ''), needs),
    )

  action('disable', ['manage_endpoints'], async (c, id) => {
    await run(options, c, 'disableEndpoint', { endpoint_id: id, reason: 'disabled in the webhook portal' })
    return back(c, 'disabled')
  })
  action('enable', ['manage_endpoints'], async (c, id) => {
    await run(options, c, 'enableEndpoint', { endpoint_id: id })
    return back(c, 'enabled')
  })
  action('delete', ['manage_endpoints'], async (c, id) => {
    await run(options, c, 'deleteEndpoint', { endpoint_id: id })
    return c.redirect('/portal/endpoints?done=deleted', 303)
  })
  action('test', ['manage_endpoints'], async (c, id) => {
    const eventType = field(await body(c), 'event_type')
    const sent = await run(options, c, 'sendTestEvent', { endpoint_id: id, event_type: eventType })
    return c.redirect(`/portal/deliveries/${sent.delivery_id}?done=sent`, 303)
  })
  action('rotate', ['manage_endpoints', 'view_secrets'], async (c, id) => {
    const rotated = await run(options, c, 'rotateEndpointSecret', { endpoint_id: id })
    const endpoint = await run(options, c, 'getEndpoint', { endpoint_id: id })
    return c.html(secretPage(c.get('session'), endpoint, rotated.secret, 'Secret rotated'))
  })
  action('reveal', ['view_secrets'], async (c, id) => {
    const endpoint = await run(options, c, 'getEndpoint', { endpoint_id: id })
    const revealed = await run(options, c, 'revealEndpointSecret', { endpoint_id: id })
    return c.html(secretPage(c.get('session'), endpoint, revealed.secret, 'Signing secret'))
  })
  action('recover', ['replay'], async (c, id) => {
    const since = utcTime(field(await body(c), 'since'))
    const recovery = await run(options, c, 'startRecovery', { endpoint_id: id, since })
    return c.redirect(`/portal/recoveries/${recovery.id}`, 303)
  })
}

function registerRecovery(app: Hono<PortalEnv>, options: PortalOptions): void {
  app.get(
    '/endpoints/:id/recover',
    page(
      async (c) => {
        const id = c.req.param('id')
        const since = utcTime(c.req.query('since') ?? '')
        const endpoint = await run(options, c, 'getEndpoint', { endpoint_id: id })
        const counted = await run(options, c, 'countRecoverable', { endpoint_id: id, since })
        return c.html(recoverConfirmPage(c.get('session'), endpoint, counted.since, counted.count))
      },
      ['replay'],
    ),
  )
  app.get(
    '/recoveries/:id',
    page(async (c) => {
      const recovery = await run(options, c, 'getRecovery', { recovery_id: c.req.param('id') })
      return c.html(recoveryPage(c.get('session'), recovery))
    }),
  )
}

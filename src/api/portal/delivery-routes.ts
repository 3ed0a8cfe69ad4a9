import type { Hono } from 'hono'
import type { PortalContext, PortalOptions } from './context.ts'
import { doneNotice, page, run, utcTime } from './context.ts'
import type { DeliveryFilters } from './pages/deliveries.ts'
import { deliveriesPage, deliveryPage } from './pages/deliveries.ts'
import type { PortalEnv } from './security.ts'

const PAGE = 25

/** The filters in the page's URL (each may be repeated), as the form shows them. */
function filtersOf(c: PortalContext): DeliveryFilters {
  const several = (name: string) => (c.req.queries(name) ?? []).filter((v) => v !== '')
  return {
    status: several('status'),
    event_type: several('event_type'),
    endpoint_id: several('endpoint_id'),
    render_id: c.req.query('render_id') ?? '',
    since: c.req.query('since') ?? '',
  }
}

/** The same filters as the API takes them: only those given. */
function listInput(c: PortalContext, filters: DeliveryFilters): Record<string, unknown> {
  const input: Record<string, unknown> = { limit: PAGE }
  for (const name of ['status', 'event_type', 'endpoint_id'] as const) {
    if (filters[name].length > 0) {
      input[name] = filters[name]
    }
  }
  if (filters.render_id !== '') {
    input['render_id'] = [filters.render_id]
  }
  if (filters.since !== '') {
    input['since'] = utcTime(filters.since)
  }
  for (const name of ['after', 'before']) {
    const value = c.req.query(name)
    if (value !== undefined) {
      input[name] = value
    }
  }
  return input
}

/** Deliveries: the filtered list, one with its attempts, and replaying one. */
export function registerDeliveryRoutes(app: Hono<PortalEnv>, options: PortalOptions): void {
  app.get(
    '/deliveries',
    page(async (c) => {
      const filters = filtersOf(c)
      const list = await run(options, c, 'listDeliveries', listInput(c, filters))
      const endpoints = await run(options, c, 'listEndpoints', { limit: 100 })
      return c.html(deliveriesPage(c.get('session'), filters, list, endpoints.data, c.req.url))
    }),
  )
  app.get(
    '/deliveries/:id',
    page(async (c) => {
      const delivery = await run(options, c, 'getDelivery', { delivery_id: c.req.param('id') })
      return c.html(deliveryPage(c.get('session'), delivery, doneNotice(c)))
    }),
  )
  app.post(
    '/deliveries/:id/replay',
    page(
      async (c) => {
        const id = c.req.param('id')
        await run(options, c, 'replayDelivery', { delivery_id: id })
        return c.redirect(`/portal/deliveries/${id}?done=replayed`, 303)
      },
      ['replay'],
    ),
  )
}

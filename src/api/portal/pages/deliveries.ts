import { html } from 'hono/html'
import type { z } from 'zod'
import { EVENT_TYPES } from '../../schemas/common.ts'
import type { Delivery, DeliveryDetail } from '../../schemas/deliveries.ts'
import type { Html } from '../layout.ts'
import { actionForm, layout, notice, when } from '../layout.ts'
import type { PortalSession } from '../sessions.ts'
import { can } from '../sessions.ts'
import type { EndpointView } from './endpoints.ts'
import { pager } from './endpoints.ts'

type DeliveryView = z.output<typeof Delivery>
type DetailView = z.output<typeof DeliveryDetail>

/** The filters of the deliveries page, as its URL holds them. */
export type DeliveryFilters = {
  status: string[]
  event_type: string[]
  endpoint_id: string[]
  render_id: string
  since: string
}

const STATUSES = ['pending', 'delivered', 'dropped'] as const

export function statusOf(delivery: Pick<DeliveryView, 'status'>): Html {
  const label = { pending: 'Pending', in_flight: 'Sending', delivered: 'Delivered', dropped: 'Dropped' }[
    delivery.status
  ]
  return html`<span class="badge ${delivery.status}">${label}</span>`
}

function result(d: { last_status_code?: number | null; last_error?: string | null }): Html {
  if (d.last_status_code !== null && d.last_status_code !== undefined) {
    return html`HTTP ${d.last_status_code}`
  }
  return d.last_error === null || d.last_error === undefined
    ? html`—`
    : html`<span class="muted">${d.last_error}</span>`
}

function row(d: DeliveryView): Html {
  return html`<tr${d.status === 'dropped' ? html` class="dropped"` : ''}>
<td><a href="/portal/deliveries/${d.id}">${when(d.created_at)}</a></td>
<td><code>${d.event_type}</code>${d.test ? html` <span class="badge">Example</span>` : ''}</td>
<td>${statusOf(d)}</td>
<td class="wide-only">${d.attempts}</td>
<td>${result(d)}</td>
<td class="url wide-only">${d.url}</td>
</tr>`
}

function filterForm(filters: DeliveryFilters, endpoints: readonly EndpointView[]): Html {
  const box = (name: string, value: string, label: string, on: boolean) =>
    html`<label class="check"><input type="checkbox" name="${name}" value="${value}"${on ? html` checked` : ''}> ${label}</label>`
  return html`<form method="get" action="/portal/deliveries" class="filters" aria-label="Filters">
<fieldset><legend>Status</legend>${STATUSES.map((s) => box('status', s, s, filters.status.includes(s)))}</fieldset>
<fieldset><legend>Event type</legend>${EVENT_TYPES.map((t) => box('event_type', t, t, filters.event_type.includes(t)))}</fieldset>
<div class="stack">
<label for="endpoint_id">Endpoint</label>
<select id="endpoint_id" name="endpoint_id">
<option value="">All endpoints</option>
${endpoints.map((e) => html`<option value="${e.id}"${filters.endpoint_id.includes(e.id) ? html` selected` : ''}>${e.url}</option>`)}
</select>
<label for="render_id">Render id</label>
<input id="render_id" name="render_id" value="${filters.render_id}" maxlength="200">
<label for="since-filter">Made since (UTC)</label>
<input id="since-filter" name="since" type="datetime-local" value="${filters.since}">
</div>
<div><button type="submit">Filter</button> <a href="/portal/deliveries">Clear</a></div>
</form>`
}

export function deliveriesPage(
  session: PortalSession,
  filters: DeliveryFilters,
  page: { data: DeliveryView[]; next_cursor: string | null; prev_cursor: string | null },
  endpoints: readonly EndpointView[],
  base: string,
): Html {
  return layout({
    title: 'Deliveries',
    session,
    section: 'deliveries',
    body: html`<h1>Deliveries</h1>
${filterForm(filters, endpoints)}
${
  page.data.length === 0
    ? html`<p>No deliveries match.</p>`
    : html`<div class="table-wrap" role="region" aria-label="Deliveries" tabindex="0"><table class="deliveries">
<thead><tr><th scope="col">Made</th><th scope="col">Event</th><th scope="col">Status</th><th scope="col" class="wide-only">Attempts</th><th scope="col">Last answer</th><th scope="col" class="wide-only">URL</th></tr></thead>
<tbody>${page.data.map(row)}</tbody>
</table></div>`
}
${pager(base, page)}`,
  })
}

function attemptRow(a: DetailView['attempt_log'][number]): Html {
  return html`<tr${a.outcome === 'dropped' ? html` class="dropped"` : ''}>
<td>${a.attempt}${a.replay > 0 ? html` <span class="muted">(replay ${a.replay})</span>` : ''}</td>
<td>${when(a.started_at)}</td>
<td>${a.status_code === null ? html`<span class="muted">${a.error ?? 'no answer'}</span>` : html`HTTP ${a.status_code}`}</td>
<td>${a.duration_ms} ms</td>
<td>${a.outcome}</td>
<td>${a.response_excerpt === null || a.response_excerpt === '' ? html`—` : html`<pre class="excerpt">${a.response_excerpt}</pre>`}</td>
</tr>`
}

export function deliveryPage(session: PortalSession, d: DetailView, done: string | undefined): Html {
  const replayable = d.status === 'dropped' || d.status === 'delivered'
  return layout({
    title: 'Delivery',
    session,
    section: 'deliveries',
    body: html`<p><a href="/portal/deliveries">← Deliveries</a></p>
<h1>Delivery <code>${d.id}</code></h1>
${notice(done)}
<dl class="facts">
<dt>Status</dt><dd>${statusOf(d)}</dd>
<dt>Event</dt><dd><code>${d.event_type}</code>${d.test ? ' (an example)' : ''}</dd>
<dt>Render</dt><dd>${d.render_id ?? '—'}</dd>
<dt>URL</dt><dd class="url">${d.url}</dd>
<dt>Made</dt><dd>${when(d.created_at)}</dd>
${d.delivered_at === null ? '' : html`<dt>Delivered</dt><dd>${when(d.delivered_at)}</dd>`}
${d.dropped_at === null ? '' : html`<dt>Dropped</dt><dd>${when(d.dropped_at)}</dd>`}
</dl>
${replayable && can(session, 'replay') ? actionForm(session, `/portal/deliveries/${d.id}/replay`, 'Replay') : ''}
<h2>Attempts</h2>
${
  d.attempt_log.length === 0
    ? html`<p>No attempt yet.</p>`
    : html`<div class="table-wrap" role="region" aria-label="Attempts" tabindex="0"><table class="attempts">
<thead><tr><th scope="col">#</th><th scope="col">Time</th><th scope="col">Answer</th><th scope="col">Took</th><th scope="col">Outcome</th><th scope="col">Answer excerpt</th></tr></thead>
<tbody>${d.attempt_log.map(attemptRow)}</tbody>
</table></div>`
}
<h2>Payload</h2>
<pre>${JSON.stringify(d.payload, null, 2)}</pre>`,
  })
}

import { html } from 'hono/html'
import type { z } from 'zod'
import { EVENT_TYPES } from '../../schemas/common.ts'
import type { Recovery } from '../../schemas/recoveries.ts'
import type { Html } from '../layout.ts'
import { actionForm, csrfField, layout, notice, when } from '../layout.ts'
import type { PortalSession } from '../sessions.ts'
import { can } from '../sessions.ts'
import type { EndpointView } from './endpoints.ts'
import { eventTypesText, statusBadge } from './endpoints.ts'

function actions(session: PortalSession, endpoint: EndpointView): Html {
  const base = `/portal/endpoints/${endpoint.id}`
  const manage = can(session, 'manage_endpoints')
  const secrets = can(session, 'view_secrets')
  if (!manage && !secrets && !can(session, 'replay')) {
    return html``
  }
  return html`<section class="card" aria-labelledby="actions">
<h2 id="actions">Actions</h2>
<div class="actions">
${manage ? (endpoint.enabled ? actionForm(session, `${base}/disable`, 'Disable') : actionForm(session, `${base}/enable`, 'Enable')) : ''}
${manage && secrets ? actionForm(session, `${base}/rotate`, 'Rotate secret', { confirm: 'Rotate the secret? The old one keeps signing for a while.' }) : ''}
${secrets ? actionForm(session, `${base}/reveal`, 'Reveal secret') : ''}
${manage ? actionForm(session, `${base}/delete`, 'Delete', { danger: true, confirm: 'Delete this endpoint? It receives nothing more.' }) : ''}
</div>
${
  manage && endpoint.enabled
    ? html`<form method="post" action="${base}/test" class="row">
${csrfField(session)}
<label for="event_type">Send an example event</label>
<select id="event_type" name="event_type">${EVENT_TYPES.map((type) => html`<option value="${type}">${type}</option>`)}</select>
<button type="submit">Send example</button>
</form>`
    : ''
}
${
  can(session, 'replay')
    ? html`<form method="get" action="${base}/recover" class="row">
<label for="since">Recover dropped deliveries since (UTC)</label>
<input id="since" name="since" type="datetime-local" required>
<button type="submit">Count them</button>
</form>`
    : ''
}
</section>`
}

export function endpointPage(session: PortalSession, endpoint: EndpointView, done: string | undefined): Html {
  return layout({
    title: 'Endpoint',
    session,
    section: 'endpoints',
    body: html`<p><a href="/portal/endpoints">← Endpoints</a></p>
<h1 class="url">${endpoint.url}</h1>
${notice(done)}
<dl class="facts">
<dt>Status</dt><dd>${statusBadge(endpoint)}${endpoint.disabled_reason === null ? '' : html` <span class="muted">${endpoint.disabled_reason}</span>`}</dd>
<dt>Event types</dt><dd>${eventTypesText(endpoint.event_types)}</dd>
<dt>Description</dt><dd>${endpoint.description ?? '—'}</dd>
<dt>Id</dt><dd><code>${endpoint.id}</code></dd>
<dt>Created</dt><dd>${when(endpoint.created_at)}</dd>
<dt>Delivery</dt><dd>${endpoint.delivery.state === 'healthy' ? 'Healthy' : 'Backing off'}${endpoint.delivery.last_error === null ? '' : html` <span class="muted">${endpoint.delivery.last_error}</span>`}</dd>
${endpoint.previous_secret_expires_at === null ? '' : html`<dt>Previous secret signs until</dt><dd>${when(endpoint.previous_secret_expires_at)}</dd>`}
</dl>
<p><a href="/portal/deliveries?endpoint_id=${endpoint.id}">Deliveries to this endpoint</a> · <a href="/portal/deliveries?endpoint_id=${endpoint.id}&amp;status=dropped">Dropped ones</a></p>
${actions(session, endpoint)}`,
  })
}

/** A secret, shown in this answer only. */
export function secretPage(
  session: PortalSession,
  endpoint: EndpointView,
  secret: string,
  heading: string,
): Html {
  return layout({
    title: heading,
    session,
    section: 'endpoints',
    body: html`<h1>${heading}</h1>
<p>Endpoint <a href="/portal/endpoints/${endpoint.id}" class="url">${endpoint.url}</a></p>
<div class="card secret">
<label for="secret">Signing secret</label>
<input id="secret" class="mono" readonly value="${secret}" data-select>
<p>Copy it now and keep it on your server: this page shows it once. Verify each webhook's signature with it.</p>
</div>
<p><a href="/portal/endpoints/${endpoint.id}">Done</a></p>`,
  })
}

export function recoverConfirmPage(
  session: PortalSession,
  endpoint: EndpointView,
  since: string,
  count: number,
): Html {
  return layout({
    title: 'Recover',
    session,
    section: 'endpoints',
    body: html`<p><a href="/portal/endpoints/${endpoint.id}">← Endpoint</a></p>
<h1>Recover dropped deliveries</h1>
<p><strong>${count}</strong> dropped ${count === 1 ? 'delivery' : 'deliveries'} to <span class="url">${endpoint.url}</span> made since ${when(since)} would be sent again.</p>
${
  count === 0
    ? ''
    : actionForm(session, `/portal/endpoints/${endpoint.id}/recover`, `Send ${count} again`, {
        fields: html`<input type="hidden" name="since" value="${since}">`,
      })
}`,
  })
}

export function recoveryPage(session: PortalSession, recovery: z.output<typeof Recovery>): Html {
  return layout({
    title: 'Recovery',
    session,
    section: 'endpoints',
    body: html`<p><a href="/portal/endpoints/${recovery.endpoint_id}">← Endpoint</a></p>
<h1>Recovery</h1>
<dl class="facts">
<dt>Status</dt><dd>${recovery.status}</dd>
<dt>Progress</dt><dd>${recovery.processed} of ${recovery.total} looked at, ${recovery.replayed} sent again, ${recovery.skipped} skipped</dd>
<dt>Since</dt><dd>${when(recovery.since)}</dd>
<dt>Started</dt><dd>${when(recovery.created_at)}</dd>
<dt>Finished</dt><dd>${when(recovery.finished_at)}</dd>
</dl>
<p><a href="/portal/recoveries/${recovery.id}">Refresh</a> · <a href="/portal/deliveries?endpoint_id=${recovery.endpoint_id}">Deliveries</a></p>`,
  })
}

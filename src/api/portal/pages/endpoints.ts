import { html } from 'hono/html'
import type { z } from 'zod'
import { eventTypeCatalog } from '../../examples.ts'
import type { Page as PageOf } from '../../schemas/common.ts'
import type { Endpoint } from '../../schemas/endpoints.ts'
import type { Html } from '../layout.ts'
import { csrfField, layout, notice, when } from '../layout.ts'
import type { PortalSession } from '../sessions.ts'
import { can } from '../sessions.ts'

export type EndpointView = z.output<typeof Endpoint>
type EndpointPage = z.output<ReturnType<typeof PageOf<typeof Endpoint>>>

/** What was typed into the register form, shown again beside the reason it was refused. */
export type RegisterForm = { url: string; description: string; eventTypes: string[]; error: string }

export function eventTypesText(types: readonly string[] | null): string {
  return types === null ? 'All event types' : types.join(', ')
}

export function statusBadge(endpoint: EndpointView): Html {
  return endpoint.enabled
    ? html`<span class="badge ok">Enabled</span>`
    : html`<span class="badge off">Disabled</span>`
}

function row(endpoint: EndpointView): Html {
  return html`<tr>
<td><a href="/portal/endpoints/${endpoint.id}" class="url">${endpoint.url}</a>${endpoint.description === null ? '' : html`<div class="muted">${endpoint.description}</div>`}</td>
<td>${statusBadge(endpoint)}</td>
<td>${eventTypesText(endpoint.event_types)}</td>
<td class="wide-only">${when(endpoint.created_at)}</td>
</tr>`
}

export function pager(base: string, page: { next_cursor: string | null; prev_cursor: string | null }): Html {
  const link = (key: 'after' | 'before', cursor: string | null, label: string) => {
    if (cursor === null) {
      return ''
    }
    const url = new URL(base, 'http://portal.invalid')
    url.searchParams.delete('after')
    url.searchParams.delete('before')
    url.searchParams.set(key, cursor)
    return html`<a href="${url.pathname}${url.search}">${label}</a>`
  }
  return html`<nav class="pager" aria-label="Pages">${link('before', page.prev_cursor, '← Newer')} ${link('after', page.next_cursor, 'Older →')}</nav>`
}

function registerForm(session: PortalSession, typed: RegisterForm | undefined): Html {
  const checked = (type: string) => typed?.eventTypes.includes(type) === true
  return html`<section class="card" aria-labelledby="register">
<h2 id="register">Register an endpoint</h2>
${typed === undefined ? '' : html`<p class="error" role="alert">${typed.error}</p>`}
<form method="post" action="/portal/endpoints" class="stack">
${csrfField(session)}
<label for="url">URL</label>
<input id="url" name="url" type="url" required maxlength="2048" placeholder="https://your.app/webhooks" value="${typed?.url ?? ''}">
<label for="description">Description <span class="muted">(optional)</span></label>
<input id="description" name="description" maxlength="500" value="${typed?.description ?? ''}">
<fieldset>
<legend>Event types <span class="muted">(none ticked: all of them)</span></legend>
${eventTypeCatalog().map(
  (type) => html`<div class="event-type">
<label><input type="checkbox" name="event_types" value="${type.type}"${checked(type.type) ? html` checked` : ''}> <code>${type.type}</code> <span class="muted">${type.description}</span></label>
<details><summary>Example payload</summary><pre>${JSON.stringify(type.example, null, 2)}</pre></details>
</div>`,
)}
</fieldset>
<div><button type="submit" class="primary">Register</button></div>
</form>
</section>`
}

export function endpointsPage(
  session: PortalSession,
  page: EndpointPage,
  base: string,
  done: string | undefined,
  typed?: RegisterForm,
): Html {
  return layout({
    title: 'Endpoints',
    session,
    section: 'endpoints',
    body: html`<h1>Endpoints</h1>
${notice(done)}
${
  page.data.length === 0
    ? html`<p>No endpoints yet.${can(session, 'manage_endpoints') ? ' Register one below: it receives the events of your organization.' : ''}</p>`
    : html`<div class="table-wrap" role="region" aria-label="Endpoints" tabindex="0"><table>
<thead><tr><th scope="col">URL</th><th scope="col">Status</th><th scope="col">Event types</th><th scope="col" class="wide-only">Created</th></tr></thead>
<tbody>${page.data.map(row)}</tbody>
</table></div>
${pager(base, page)}`
}
${can(session, 'manage_endpoints') ? registerForm(session, typed) : ''}`,
  })
}

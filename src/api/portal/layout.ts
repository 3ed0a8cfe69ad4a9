import { html } from 'hono/html'
import type { PortalSession } from './sessions.ts'
import { csrfToken } from './sessions.ts'

// Every page of the portal is made with hono/html's `html` tag, which escapes each interpolated
// value (& < > " '): what a receiver answered and what a customer typed become text, never markup.
// Nothing here uses raw(). Attributes are always quoted.

export type Html = ReturnType<typeof html>

export type Page = {
  title: string
  session?: PortalSession | undefined
  /** Which item of the navigation is current. */
  section?: 'endpoints' | 'deliveries' | undefined
  body: Html
  /** The exchange page: its script reads the link from the fragment. */
  exchange?: boolean
}

const ASSETS = '/portal/assets'

export function layout(page: Page): Html {
  const { session } = page
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${page.title} · Webhooks</title>
<link rel="stylesheet" href="${ASSETS}/portal.css">
<script src="${ASSETS}/portal.js" defer></script>
</head>
<body${page.exchange === true ? html` data-exchange="true"` : ''}>
<header class="top">
<span class="brand">Webhooks</span>
${session === undefined ? '' : nav(session, page.section)}
</header>
<main id="main">
${page.body}
</main>
</body>
</html>`
}

function nav(session: PortalSession, section: Page['section']): Html {
  const item = (href: string, name: NonNullable<Page['section']>, label: string) =>
    html`<a href="${href}"${section === name ? html` aria-current="page"` : ''}>${label}</a>`
  return html`<nav aria-label="Portal">
${item('/portal/endpoints', 'endpoints', 'Endpoints')}
${item('/portal/deliveries', 'deliveries', 'Deliveries')}
</nav>
<div class="session">
${session.capabilities.length === 0 ? html`<span class="badge">Read-only</span>` : ''}
<form method="post" action="/portal/logout" class="inline">${csrfField(session)}<button class="link" type="submit">Sign out</button></form>
</div>`
}

/** The hidden field every form of a session carries (checked by the server with the Origin). */
export function csrfField(session: PortalSession): Html {
  return html`<input type="hidden" name="_csrf" value="${csrfToken(session)}">`
}

/** A POST form with the session's CSRF token and one button. */
export function actionForm(
  session: PortalSession,
  action: string,
  label: string,
  options: { danger?: boolean; confirm?: string; fields?: Html } = {},
): Html {
  return html`<form method="post" action="${action}" class="inline"${options.confirm === undefined ? '' : html` data-confirm="${options.confirm}"`}>
${csrfField(session)}${options.fields ?? ''}<button type="submit"${options.danger === true ? html` class="danger"` : ''}>${label}</button>
</form>`
}

/** A message shown after an action, from a fixed list (the query names it; nothing typed is shown). */
export function notice(text: string | undefined): Html {
  return text === undefined ? html`` : html`<p class="notice" role="status">${text}</p>`
}

/** A page that says what went wrong, and where to go. */
export function messagePage(title: string, text: string, session?: PortalSession): Html {
  return layout({
    title,
    session,
    body: html`<h1>${title}</h1><p>${text}</p>${session === undefined ? '' : html`<p><a href="/portal/endpoints">Back to the endpoints</a></p>`}`,
  })
}

/** A time as UTC text, to the second; empty for none. */
export function when(iso: string | null | undefined): Html {
  if (iso === null || iso === undefined) {
    return html`—`
  }
  return html`<time datetime="${iso}">${iso.slice(0, 19).replace('T', ' ')} UTC</time>`
}

import type { TestHttpApi } from './http-api.ts'

export type PortalAnswer = { status: number; headers: Headers; text: string; location: string | null }

/** A browser's view of the portal, as plain HTTP: one cookie, same-origin POSTs with the form's token. */
export type PortalClient = {
  /** What the page's script does with a link's token: POST it to /portal/session. */
  exchange(token: string, origin?: string): Promise<PortalAnswer>
  get(path: string): Promise<PortalAnswer>
  /** A form POST: the CSRF token of the last page read unless given, the portal's Origin unless given (null: none). */
  post(
    path: string,
    fields?: Record<string, string | string[]>,
    options?: { csrf?: string | null; origin?: string | null },
  ): Promise<PortalAnswer>
  cookie: string | undefined
  csrf: string | undefined
}

/** The token after # in a portal link. */
export const tokenOf = (url: string) => url.slice(url.indexOf('#') + 1)

/** A fresh portal client of the API `api` (no cookie yet). */
export function portalClient(api: Pick<TestHttpApi, 'url'>): PortalClient {
  const client: PortalClient = {
    cookie: undefined,
    csrf: undefined,
    async exchange(token, origin = api.url) {
      const answer = await send('POST', '/portal/session', {
        headers: { 'content-type': 'application/json', origin },
        body: JSON.stringify({ token }),
      })
      const set = answer.headers.get('set-cookie')
      if (set !== null) {
        client.cookie = set.split(';')[0]
      }
      return answer
    },
    get: (path) => send('GET', path, {}),
    async post(path, fields = {}, options = {}) {
      const form = new URLSearchParams()
      const csrf = options.csrf === undefined ? client.csrf : options.csrf
      if (csrf !== null && csrf !== undefined) {
        form.append('_csrf', csrf)
      }
      for (const [name, value] of Object.entries(fields)) {
        for (const v of Array.isArray(value) ? value : [value]) {
          form.append(name, v)
        }
      }
      const origin = options.origin === undefined ? api.url : options.origin
      return send('POST', path, {
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          ...(origin === null ? {} : { origin }),
        },
        body: form.toString(),
      })
    },
  }
  async function send(
    method: string,
    path: string,
    init: { headers?: Record<string, string>; body?: string },
  ) {
    const response = await fetch(`${api.url}${path}`, {
      method,
      redirect: 'manual',
      headers: { ...init.headers, ...(client.cookie === undefined ? {} : { cookie: client.cookie }) },
      ...(init.body === undefined ? {} : { body: init.body }),
    })
    const text = await response.text()
    const csrf = /name="_csrf" value="([^"]+)"/.exec(text)?.[1]
    if (csrf !== undefined) {
      client.csrf = csrf
    }
    return {
      status: response.status,
      headers: response.headers,
      text,
      location: response.headers.get('location'),
    }
  }
  return client
}

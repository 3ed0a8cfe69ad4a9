import { existsSync, readFileSync } from 'node:fs'
import type { Server } from 'node:http'
import { createServer } from 'node:http'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import type { Browser, Page } from 'playwright-core'
import { chromium } from 'playwright-core'

/** Debian's chromium package (.ci/run installs it). */
export const CHROMIUM = '/usr/bin/chromium'

/** Why the browser tests cannot run here, or undefined when they can. */
export function browserMissing(): string | undefined {
  return existsSync(CHROMIUM)
    ? undefined
    : `${CHROMIUM} is not installed (apt-get install chromium): the browser tests are skipped`
}

/** Headless Chromium. As root it needs --no-sandbox; it reaches nothing but 127.0.0.1 in these tests. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] })
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')

export type Violation = { id: string; impact: string | null; help: string; targets: string[] }

/**
 * axe-core's serious and critical violations on the page. It is evaluated through the DevTools
 * protocol, which the page's Content-Security-Policy does not govern (the page itself could not
 * load it: it allows only its own script).
 */
export async function seriousViolations(page: Page): Promise<Violation[]> {
  await page.evaluate(axeSource)
  const results = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(): Promise<{ violations: unknown[] }> } }).axe
    return (await axe.run()).violations as Array<{
      id: string
      impact: string | null
      help: string
      nodes: Array<{ target: string[] }>
    }>
  })
  return results
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      targets: v.nodes.map((n) => n.target.join(' ')),
    }))
}

export type FramingPage = { url: string; set(src: string): void; close(): Promise<void> }

/** A page on its own origin (127.0.0.1, another port) that shows `src` in an iframe: the dashboard. */
export async function startFramingPage(): Promise<FramingPage> {
  let src = 'about:blank'
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    res.end(
      `<!doctype html><html lang="en"><title>Dashboard</title><h1>Settings</h1><iframe title="Webhooks" src="${src.replaceAll('"', '&quot;')}" width="1000" height="700"></iframe></html>`,
    )
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    set: (value) => {
      src = value
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

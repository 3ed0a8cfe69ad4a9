import type { ChildProcess } from 'node:child_process'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { freePort, installed, missing } from '../helpers/metrics.ts'
import { useDeliveryStack } from '../helpers/stack.ts'
import { giveOrgASecret, recordCompleted } from '../reliability/fixtures.ts'

const ALERTS = fileURLToPath(new URL('../../docs/alerts.yml', import.meta.url))
const DELIVERED = 3

const stack = useDeliveryStack({ WEBHOOK_METRICS_PORT: '0' }, (testDb) => giveOrgASecret(testDb))

let prometheus: ChildProcess | undefined
let output = ''
let dir: string | undefined
afterAll(async () => {
  if (prometheus !== undefined && prometheus.exitCode === null && prometheus.signalCode === null) {
    const exited = once(prometheus, 'exit')
    prometheus.kill('SIGTERM')
    await exited
  }
  if (dir !== undefined) {
    rmSync(dir, { recursive: true, force: true })
  }
})

/** A Prometheus server on 127.0.0.1 scraping the worker every second, with docs/alerts.yml loaded. */
async function startPrometheus(binary: string, target: string): Promise<string> {
  dir = mkdtempSync(join(tmpdir(), 'imtegrate-webhooks-prometheus-'))
  const config = join(dir, 'prometheus.yml')
  writeFileSync(
    config,
    [
      'global: { scrape_interval: 1s, evaluation_interval: 1s }',
      `rule_files: [${JSON.stringify(ALERTS)}]`,
      'scrape_configs:',
      '  - job_name: imtegrate-webhooks',
      `    static_configs: [{ targets: [${JSON.stringify(target)}] }]`,
    ].join('\n'),
  )
  const port = await freePort()
  prometheus = spawn(
    binary,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  const keep = (chunk: Buffer) => {
    output += chunk.toString('utf8')
  }
  prometheus.stdout?.on('data', keep)
  prometheus.stderr?.on('data', keep)
  return `http://127.0.0.1:${port}`
}

/** The value of a PromQL query's single result, or undefined while it has none. */
async function query(prometheusUrl: string, promql: string): Promise<number | undefined> {
  const response = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(promql)}`)
  const body = (await response.json()) as { data?: { result?: Array<{ value: [number, string] }> } }
  const value = body.data?.result?.[0]?.value[1]
  return value === undefined ? undefined : Number(value)
}

describe('a real Prometheus scraping a worker', () => {
  it('answers a PromQL query with the number of deliveries made', { timeout: 60_000 }, async (ctx) => {
    const binary = installed('prometheus')
    if (binary === undefined) {
      ctx.skip(missing('prometheus'))
      return
    }
    const target = new URL(stack.worker.monitorUrl ?? '').host
    const prometheusUrl = await startPrometheus(binary, target)
    for (let i = 1; i <= DELIVERED; i++) {
      await recordCompleted(stack.testDb, stack.receiver.url(`/promql-${i}`))
    }
    const promql = 'sum(imtegrate_webhooks_attempts_total{job="imtegrate-webhooks",outcome="delivered"})'
    await vi.waitFor(
      async () => {
        if (prometheus?.exitCode !== null) {
          throw new Error(`prometheus exited:\n${output}`)
        }
        expect(await query(prometheusUrl, promql).catch(() => undefined)).toBe(DELIVERED)
      },
      { timeout: 45_000, interval: 250 },
    )
    expect(await query(prometheusUrl, 'up{job="imtegrate-webhooks"}')).toBe(1)
    // The alert rules load in a real server, and evaluate without error.
    const rules = (await (await fetch(`${prometheusUrl}/api/v1/rules`)).json()) as {
      data: { groups: Array<{ rules: Array<{ name: string; health: string }> }> }
    }
    const loaded = rules.data.groups.flatMap((group) => group.rules)
    // Every alert docs/alerts.yml defines, however many it grows to.
    const defined = readFileSync(new URL('../../docs/alerts.yml', import.meta.url), 'utf8').match(
      /^\s*- alert:/gm,
    )
    expect(defined?.length).toBeGreaterThan(0)
    expect(loaded).toHaveLength(defined?.length ?? 0)
    expect(loaded.filter((rule) => rule.health === 'err')).toEqual([])
  })
})

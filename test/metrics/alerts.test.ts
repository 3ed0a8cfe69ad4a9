import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { createMetrics } from '../../src/metrics/registry.ts'
import { installed, missing } from '../helpers/metrics.ts'

const ALERTS = fileURLToPath(new URL('../../docs/alerts.yml', import.meta.url))
const RULE_TESTS = fileURLToPath(new URL('./alerts.rules-test.yml', import.meta.url))

function promtool(args: string[]) {
  const binary = installed('promtool')
  if (binary === undefined) {
    return undefined
  }
  const run = spawnSync(binary, args, { encoding: 'utf8' })
  return { status: run.status, output: run.stdout + run.stderr }
}

describe('docs/alerts.yml', () => {
  it('is accepted by promtool check rules', (ctx) => {
    const check = promtool(['check', 'rules', ALERTS])
    if (check === undefined) {
      ctx.skip(missing('promtool'))
      return
    }
    expect(check.output).toContain('SUCCESS: 7 rules found')
    expect(check.status, check.output).toBe(0)
  })

  it('fires each alert when it should and not before (promtool test rules)', (ctx) => {
    const run = promtool(['test', 'rules', RULE_TESTS])
    if (run === undefined) {
      ctx.skip(missing('promtool'))
      return
    }
    expect(run.status, run.output).toBe(0)
    expect(run.output).toContain('SUCCESS')
  })

  it('names only metrics a worker exports', () => {
    const named = new Set(readFileSync(ALERTS, 'utf8').match(/imtegrate_webhooks_[a-z_]+/g))
    const { registry } = createMetrics({
      version: '0.0.0',
      backlog: { current: async () => undefined, failures: 0 },
      dispatcher: () => undefined,
    })
    const exported = registry.getMetricsAsArray().map((metric) => metric.name)
    expect([...named].filter((name) => !exported.includes(name))).toEqual([])
    expect(named.size).toBe(8)
  })
})

import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import pg from 'pg'
import { describe, expect, inject, it } from 'vitest'
import { ROW_LABELS } from '../../scripts/bench/report.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

describe('the benchmark', () => {
  it('runs a tiny load end to end, prints every row of its table, and drops its database', async () => {
    const running = promisify(execFile)(process.execPath, ['scripts/bench.ts', '--tiny'], {
      cwd: ROOT,
      env: { PATH: process.env['PATH'], BENCH_DATABASE_URL: inject('adminUrl') },
      timeout: 270_000,
    })
    const pid = running.child.pid
    const { stdout } = await running

    for (const label of ROW_LABELS) {
      expect(stdout).toContain(`| ${label}`)
    }
    expect(stdout).toMatch(/\| (pass|\*\*FAIL\*\*) \|/)
    const admin = new pg.Client({ connectionString: inject('adminUrl') })
    await admin.connect()
    try {
      const { rowCount } = await admin.query('select 1 from pg_database where datname like $1', [
        `iwb_${pid}_%`,
      ])
      expect(rowCount).toBe(0)
    } finally {
      await admin.end()
    }
  }, 280_000)
})

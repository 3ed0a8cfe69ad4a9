// Scratch: recording variants side by side at N clients.
import { setTimeout as delay } from 'node:timers/promises'
import pg from 'pg'
import { readdirSync, readFileSync } from 'node:fs'
function pgCpu(){let t=0;for(const d of readdirSync('/proc')){if(!/^\d+$/.test(d))continue;try{const c=readFileSync(`/proc/${d}/cmdline`,'utf8');if(!c.startsWith('postgres'))continue;const f=readFileSync(`/proc/${d}/stat`,'utf8').split(') ')[1].split(' ');t+=Number(f[11])+Number(f[12])}catch{}}return t*10000}
const cpu: Record<string,{pg:number,node:number}> = {}

import { createBenchDatabase, ORG } from '../scripts/bench/database.ts'

const clientsN = Number(process.env.CLIENTS ?? 32)
const seconds = Number(process.env.SECS ?? 3)
const rounds = Number(process.env.ROUNDS ?? 3)
const preload = Number(process.env.PRELOAD ?? 0)
const variants = (process.env.VARIANTS ?? 'plain,record,row').split(',')
const setupSql = process.env.SETUP_SQL ?? ''

const db = await createBenchDatabase('postgres://postgres@127.0.0.1:5432/postgres')
try {
  await db.pool.query(`create table public.bench_renders (id bigint primary key, status text not null, updated_at timestamptz not null)`)
  await db.pool.query(`insert into public.bench_renders select g, 'rendering', now() from generate_series(1, 40000) g`)
  await db.pool.query(`insert into webhooks.worker_pools (id, hostname, pid, polling_until) values ('hot','b',0, now() + interval '1 hour')`)
  if (setupSql) await db.pool.query(setupSql)
  if (preload) {
    for (let i = 0; i < preload; i += 50000) {
      await db.pool.query(`select count(webhooks.record_render_status(org_id => 'org_pre', render_id => 'pre_' || g, kind => 'image', status => 'completed', template_id => 'tpl', result_url => 'https://x/' || g, duration_ms => 1, webhook_url => 'https://example.com/h'))
        from generate_series($1::int, $2::int) g`, [i, i + 49999])
    }
    await db.pool.query(`update webhooks.events set fanned_out_at = now() where fanned_out_at is null`)
  }
  await db.pool.query('vacuum analyze')
  await db.pool.query('checkpoint')
  const tx = (mode: string, row: number, rid: string) => {
    const id = pg.escapeLiteral(rid)
    const update = `update public.bench_renders set status = 'completed', updated_at = now() where id = ${row};`
    const url = `'https://hooks.example.com/rec'`
    const resultUrl = pg.escapeLiteral(`https://storage.imtegrate.com/renders/${rid}.png`)
    const data = pg.escapeLiteral(JSON.stringify({ id: rid, status: 'completed', result_url: `https://storage.imtegrate.com/renders/${rid}.png`, template_id: 'tpl_bench', duration_ms: 3210 }))
    switch (mode) {
      case 'plain': return `begin; ${update} commit;`
      case 'record': return `begin; ${update} select webhooks.record_render_status(org_id => '${ORG}', render_id => ${id}, kind => 'image', status => 'completed', template_id => 'tpl_bench', result_url => ${resultUrl}, duration_ms => 3210, webhook_url => ${url}); commit;`
      case 'row': return `begin; ${update} insert into webhooks.events (id, org_id, type, subject_id, webhook_url, data, created_at) values (webhooks.new_id('evt'), '${ORG}', 'image.completed', ${id}, ${url}, ${data}, date_trunc('second', now())) on conflict (org_id, subject_id, (type = 'collection.completed')) do nothing; commit;`
      case 'rownc': return `begin; ${update} insert into webhooks.events (id, org_id, type, subject_id, webhook_url, data, created_at) values (webhooks.new_id('evt'), '${ORG}', 'image.completed', ${id}, ${url}, ${data}, date_trunc('second', now())); commit;`
      case 'emptyfn': return `begin; ${update} select webhooks.noop(org_id => '${ORG}', render_id => ${id}, kind => 'image', status => 'completed', template_id => 'tpl_bench', result_url => ${resultUrl}, duration_ms => 3210, webhook_url => ${url}); commit;`
      case 'sel1': return `begin; ${update} select 1; commit;`
      default: {
        // custom function with same args: webhooks.<mode>
        return `begin; ${update} select webhooks.${mode}(org_id => '${ORG}', render_id => ${id}, kind => 'image', status => 'completed', template_id => 'tpl_bench', result_url => ${resultUrl}, duration_ms => 3210, webhook_url => ${url}); commit;`
      }
    }
  }
  const clients = await Promise.all(Array.from({ length: clientsN }, async () => { const c = new pg.Client({ connectionString: db.url }); await c.connect(); return c }))
  const totals: Record<string, number> = {}
  let run = 0
  const waits: Record<string, Record<string, number>> = {}
  for (let r = 0; r < rounds; r++) {
    for (const mode of variants) {
      run++
      let measuring = false, stopped = false, commits = 0
      const loops = Promise.all(clients.map(async (c, i) => {
        for (let seq = 0; !stopped; seq++) {
          await c.query(tx(mode, i * 1000 + (seq % 1000) + 1, `img_${mode}${run}_${i}_${seq}`))
          if (measuring) commits++
        }
      }))
      await delay(r === 0 ? 1000 : 300)
      measuring = true
      const perf = process.env.PERF ? (await import('node:child_process')).spawn('perf', ['record', '-e', 'cpu-clock', '-F', '999', '-a', '-g', '-o', `/tmp/perf_${mode}.data`, '--', 'sleep', String(seconds - 1)], { stdio: 'ignore' }) : undefined
      const c0 = commits
      const pg0 = pgCpu(), n0 = process.cpuUsage()
      const t0 = performance.now()
      const w = (waits[mode] ??= {})
      while (performance.now() - t0 < seconds * 1000) {
        if (!process.env.WAITS) { await delay(seconds*1000); break }
        const { rows } = await db.admin.query(`select coalesce(wait_event_type || ':' || wait_event, state) as w, count(*)::int n from pg_stat_activity where datname = $1 and application_name <> 'imtegrate-bench' group by 1`, [db.name])
        for (const row of rows) w[row.w] = (w[row.w] ?? 0) + row.n
        await delay(50)
      }
      if (perf) { await new Promise((r) => perf.on('exit', r)); console.log(`perf ${mode} commits ${commits - c0}`) }
      measuring = false
      { const nu = process.cpuUsage(n0); const c = (cpu[mode] ??= {pg:0,node:0}); c.pg += pgCpu()-pg0; c.node += nu.user+nu.system }
      stopped = true
      await loops
      totals[mode] = (totals[mode] ?? 0) + commits
      console.error(`${mode}: ${Math.round(commits / seconds)}/s`)
      await db.pool.query('vacuum public.bench_renders')
    }
  }
  const plain = totals.plain ?? 1
  for (const [m, n] of Object.entries(totals)) console.log(`${m.padEnd(12)} ${Math.round(n / seconds / rounds)}/s  ${(n / plain).toFixed(3)}x  pg ${(cpu[m].pg/n).toFixed(0)}us node ${(cpu[m].node/n).toFixed(0)}us per tx`)
  if (process.env.WAITS) for (const [m, w] of Object.entries(waits)) console.log(m, JSON.stringify(Object.entries(w).sort((a, b) => b[1] - a[1]).slice(0, 8)))
  await Promise.all(clients.map((c) => c.end()))
} finally {
  await db.drop()
}

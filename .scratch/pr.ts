import pg from 'pg'
import { createDb } from '../src/store/database.ts'
import { prune } from '../src/store/prune.ts'
const pool = new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:5432/scratch_q' })
const db = createDb(pool)
const before = new Date(Date.now() - 30 * 86400000)
let t = performance.now()
console.log('dry', await prune(db, before, { dryRun: true }), Math.round(performance.now() - t), 'ms')
t = performance.now()
let n = 0
console.log('real', await prune(db, before, { onBatch: () => n++ }), Math.round(performance.now() - t), 'ms', n, 'batches')
await db.destroy()

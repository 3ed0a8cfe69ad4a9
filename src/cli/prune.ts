import { RETENTION_MS } from '../config.ts'
import { parseDuration } from '../duration.ts'
import type { PruneCounts } from '../store/prune.ts'
import { cutoffAgo, prune } from '../store/prune.ts'
import { shown } from '../text.ts'
import { withContext } from './context.ts'
import type { Command } from './io.ts'
import { parse, printJson, required, UsageError } from './io.ts'

const usage = `imtegrate-webhooks prune --older-than AGE [--dry-run] [--json]

Deletes the history that ended more than AGE ago (30d, 720h; 1h to 36500d): events made before
then whose deliveries were all delivered or dropped, and last changed, before then, together with
those deliveries and their attempts. Nothing pending or being attempted is touched, and an event
with such a delivery is kept whole. Pruned deliveries can no longer be listed or replayed, and a
render reported again after its event was pruned makes a new event.

Options:
  --older-than AGE   how much history to keep
  --dry-run          count what would be deleted; change nothing
  --json             print {before, events, deliveries, attempts} (and dry_run)

Works in batches of 1,000 events, one transaction each; an interrupted run can simply be run
again. Run it from cron, or set WEBHOOK_RETENTION=AGE on the workers and one of them runs it
hourly.`

export const pruneCommand: Command = {
  usage,
  async run(args, io) {
    const { values } = parse(args, {
      'older-than': { type: 'string' },
      'dry-run': { type: 'boolean' },
      json: { type: 'boolean' },
    })
    const text = required(values['older-than'], '--older-than')
    let age: number
    try {
      age = parseDuration(text)
    } catch {
      throw new UsageError(`--older-than must be a duration (30d, 720h), got "${shown(text, 40)}"`)
    }
    if (age < RETENTION_MS.min || age > RETENTION_MS.max) {
      throw new UsageError(`--older-than must be between 1h and 36500d, got "${shown(text, 40)}"`)
    }
    const dryRun = values['dry-run'] === true
    const { before, counts } = await withContext(io, async ({ db }) => {
      const cutoff = await cutoffAgo(db, age)
      return { before: cutoff, counts: await prune(db, cutoff, { dryRun }) }
    })
    if (values.json) {
      printJson(io, { ...(dryRun ? { dry_run: true } : {}), before: before.toISOString(), ...counts })
      return
    }
    io.out(report(counts, before, dryRun))
  },
}

function report({ events, deliveries, attempts }: PruneCounts, before: Date, dryRun: boolean): string {
  const what = `${events} events, ${deliveries} deliveries and ${attempts} attempts whose history ended before ${before.toISOString()}`
  return dryRun ? `dry run: would prune ${what}; nothing changed` : `pruned ${what}`
}

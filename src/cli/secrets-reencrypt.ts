import { WebhookError } from '../errors.ts'
import type { SecretBox } from '../secret-box.ts'
import type { Db } from '../store/database.ts'
import type { Resealed, SecretTable, StoredSecrets } from '../store/sealed-secrets.ts'
import { replaceSealedSecrets, secretsPage } from '../store/sealed-secrets.ts'
import { withContext } from './context.ts'
import type { Command } from './io.ts'
import { CommandError, parse, printJson } from './io.ts'

export const reencryptUsage = `imtegrate-webhooks secrets reencrypt [--json]

Re-seals every stored org and endpoint secret (current and previous, deleted endpoints too)
under WEBHOOK_SECRETS_KEY, reading old ones with WEBHOOK_SECRETS_KEY_PREVIOUS; secrets stored
in the clear are encrypted. Safe to run twice and while workers run. See docs/secrets.md.`

const PAGE = 500
const MAX_PASSES = 3

type TableReport = { rows: number; resealed: number; unreadable: string[] }

export const reencryptCommand: Command = {
  usage: reencryptUsage,
  async run(args, io) {
    const { values } = parse(args, { json: { type: 'boolean' } })
    const report = await withContext(io, async ({ db, box }) => {
      if (!box.encrypts) {
        throw new CommandError('WEBHOOK_SECRETS_KEY is not set: there is no key to re-seal the secrets under')
      }
      return {
        key_id: box.keyId,
        org_secrets: await reencryptTable(db, box, 'org_secrets'),
        endpoints: await reencryptTable(db, box, 'endpoints'),
      }
    })
    if (values.json) {
      printJson(io, report)
    } else {
      for (const table of ['org_secrets', 'endpoints'] as const) {
        const { rows, resealed } = report[table]
        io.out(`${table}: ${rows} rows, ${resealed} secrets re-sealed under key ${report.key_id}`)
      }
    }
    const unreadable = [...report.org_secrets.unreadable, ...report.endpoints.unreadable]
    if (unreadable.length > 0) {
      throw new CommandError(
        `${unreadable.length} rows hold secrets no configured key opens (left as they are): ${unreadable.slice(0, 10).join(', ')}`,
      )
    }
  },
}

/**
 * Passes over the table until one finds nothing left to re-seal: a value a concurrent rotation
 * replaced meanwhile is skipped by the compare-and-swap, and re-sealed by the next pass.
 */
async function reencryptTable(db: Db, box: SecretBox, table: SecretTable): Promise<TableReport> {
  let resealed = 0
  for (let pass = 1; ; pass++) {
    const result = await reencryptPass(db, box, table)
    resealed += result.replaced
    if (result.found === 0 || pass === MAX_PASSES) {
      return { rows: result.rows, resealed, unreadable: result.unreadable }
    }
  }
}

async function reencryptPass(db: Db, box: SecretBox, table: SecretTable) {
  const unreadable: string[] = []
  let rows = 0
  let found = 0
  let replaced = 0
  let after = ''
  for (;;) {
    const page = await secretsPage(db, table, after, PAGE)
    const changed: Resealed[] = []
    for (const row of page) {
      const resealed = reseal(box, row)
      if (resealed === 'unreadable') {
        unreadable.push(row.id)
      } else if (resealed !== undefined) {
        changed.push(resealed)
      }
    }
    found += changed.length
    replaced += await replaceSealedSecrets(db, table, changed)
    rows += page.length
    after = page.at(-1)?.id ?? after
    if (page.length < PAGE) {
      return { rows, found, replaced, unreadable }
    }
  }
}

/** The row with every secret not sealed under the current key re-sealed; undefined when none. */
function reseal(box: SecretBox, row: StoredSecrets): Resealed | 'unreadable' | undefined {
  const again = (stored: string) => (box.isCurrent(stored) ? stored : box.seal(box.open(stored)))
  try {
    const secret = again(row.secret)
    const previous = row.previous_secret === null ? null : again(row.previous_secret)
    if (secret === row.secret && previous === row.previous_secret) {
      return undefined
    }
    return {
      id: row.id,
      secret,
      previous_secret: previous,
      old_secret: row.secret,
      old_previous_secret: row.previous_secret,
    }
  } catch (error) {
    if (error instanceof WebhookError && error.code === 'SECRET_UNREADABLE') {
      return 'unreadable'
    }
    throw error
  }
}

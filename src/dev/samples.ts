import { randomBytes } from 'node:crypto'
import type { RenderStatusChange } from '../outbox/record.ts'
import { recordRenderStatus } from '../outbox/record.ts'
import type { Db } from '../store/database.ts'
import { openCollection } from '../store/recording.ts'

/** Every event type, as docs/contract.md lists them. */
export { EVENT_TYPES } from '../api/schemas/common.ts'

/**
 * Records, in one transaction as the render service would, a render of each kind reaching each
 * terminal status, and a collection of two whose children finish (one completed, one failed): an
 * event of every type. Ids carry a random suffix, so each call makes new events. Returns how many
 * events were recorded.
 */
export async function recordSamples(db: Db, orgId: string): Promise<number> {
  const run = randomBytes(3).toString('hex')
  const collectionId = `col_demo_${run}`
  const renders: RenderStatusChange[] = [
    sample('image', `img_demo_${run}`, 'completed'),
    sample('image', `img_demo_${run}_f`, 'failed'),
    sample('video', `vid_demo_${run}`, 'completed'),
    sample('video', `vid_demo_${run}_f`, 'failed'),
    { ...sample('image', `img_demo_${run}_c1`, 'completed'), collectionId },
    { ...sample('video', `vid_demo_${run}_c2`, 'failed'), collectionId },
  ]
  return db.transaction().execute(async (trx) => {
    await openCollection(trx, { orgId, collectionId, childCount: 2, templateId: 'tpl_demo' })
    let events = 0
    for (const render of renders) {
      if ((await recordRenderStatus(trx, render)) !== null) {
        events++
      }
    }
    // The last child completed the collection, in this same transaction.
    return events + 1
  })

  function sample(
    kind: 'image' | 'video',
    renderId: string,
    status: 'completed' | 'failed',
  ): RenderStatusChange {
    const extension = kind === 'image' ? 'png' : 'mp4'
    return {
      orgId,
      renderId,
      kind,
      status,
      templateId: 'tpl_demo',
      durationMs: kind === 'image' ? 1_850 : 12_400,
      ...(status === 'completed'
        ? { resultUrl: `https://storage.example.com/${renderId}.${extension}` }
        : { error: { code: 'template_error', message: 'the template refers to a missing layer' } }),
    }
  }
}

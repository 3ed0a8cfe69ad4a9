import { randomBytes } from 'node:crypto'
import type { RenderStatusChange } from '../outbox/record.ts'
import { recordRenderStatus } from '../outbox/record.ts'
import type { Db } from '../store/database.ts'
import { openCollection } from '../store/recording.ts'

/** Every event type, as docs/contract.md lists them. */
export const EVENT_TYPES = [
  'image.completed',
  'image.failed',
  'video.completed',
  'video.failed',
  'collection.completed',
] as const

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
    done('image', `img_demo_${run}`),
    failed('image', `img_demo_${run}_f`),
    done('video', `vid_demo_${run}`),
    failed('video', `vid_demo_${run}_f`),
    { ...done('image', `img_demo_${run}_c1`), collectionId },
    { ...failed('video', `vid_demo_${run}_c2`), collectionId },
  ]
  return db.transaction().execute(async (trx) => {
    await openCollection(trx, { orgId, collectionId, childCount: 2, templateId: 'tpl_demo' })
    let events = 0
    for (const render of renders) {
      if ((await recordRenderStatus(trx, { ...render, orgId })) !== null) {
        events++
      }
    }
    // The last child completed the collection, in this same transaction.
    return events + 1
  })

  function done(kind: 'image' | 'video', renderId: string): RenderStatusChange {
    return {
      orgId,
      renderId,
      kind,
      status: 'completed',
      templateId: 'tpl_demo',
      resultUrl: `https://storage.example.com/${renderId}.${kind === 'image' ? 'png' : 'mp4'}`,
      durationMs: kind === 'image' ? 1_850 : 12_400,
    }
  }
  function failed(kind: 'image' | 'video', renderId: string): RenderStatusChange {
    return {
      orgId,
      renderId,
      kind,
      status: 'failed',
      templateId: 'tpl_demo',
      durationMs: 930,
      error: { code: 'template_error', message: 'the template refers to a missing layer' },
    }
  }
}

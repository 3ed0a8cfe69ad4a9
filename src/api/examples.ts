import type { EVENT_TYPES } from './schemas/common.ts'

export type EventType = (typeof EVENT_TYPES)[number]

const render = (kind: 'image' | 'video', status: 'completed' | 'failed') => {
  const id = kind === 'image' ? 'img_example' : 'vid_example'
  const common = { id, status }
  return status === 'completed'
    ? {
        ...common,
        result_url: `https://storage.imtegrate.com/examples/${id}.${kind === 'image' ? 'png' : 'mp4'}`,
        template_id: 'tpl_example',
        duration_ms: 3210,
      }
    : {
        ...common,
        result_url: null,
        template_id: 'tpl_example',
        duration_ms: 3210,
        error: { code: 'example_error', message: 'This is an example failure.' },
      }
}

/** The `data` of an example event of each type, keys in contract order (docs/contract.md, section 1). */
export const EXAMPLE_DATA: Readonly<Record<EventType, unknown>> = Object.freeze({
  'image.completed': render('image', 'completed'),
  'image.failed': render('image', 'failed'),
  'video.completed': render('video', 'completed'),
  'video.failed': render('video', 'failed'),
  'collection.completed': {
    id: 'col_example',
    status: 'completed',
    template_id: 'tpl_example',
    children: { total: 3, completed: 2, failed: 1 },
  },
})

const DESCRIPTIONS: Readonly<Record<EventType, string>> = {
  'image.completed': 'an image render reached completed',
  'image.failed': 'an image render reached failed',
  'video.completed': 'a video render reached completed',
  'video.failed': 'a video render reached failed',
  'collection.completed': 'every child render of a collection reached completed or failed',
}

/** The event types the contract defines, each with when it fires and an example body. */
export function eventTypeCatalog(): Array<{ type: EventType; description: string; example: unknown }> {
  return (Object.keys(EXAMPLE_DATA) as EventType[]).map((type) => ({
    type,
    description: DESCRIPTIONS[type],
    example: { type, created_at: '2026-05-04T10:01:23Z', data: EXAMPLE_DATA[type] },
  }))
}

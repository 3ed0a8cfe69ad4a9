import fc from 'fast-check'

// Input for the recording functions: mostly plausible values (so calls succeed, repeat reports
// and complete collections), with hostile ones mixed into every argument.

const hostileText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.string({ unit: 'binary-ascii', maxLength: 30 }),
  fc.constantFrom(
    '',
    ' ',
    'null',
    'nul\u0000byte',
    "'; drop table webhooks.events; --",
    'half \ud800 surrogate',
    'x'.repeat(100_000),
  ),
  fc.constant(null),
)
const sometimes = <T>(plausible: fc.Arbitrary<T>) =>
  fc.oneof({ arbitrary: plausible, weight: 15 }, { arbitrary: hostileText, weight: 1 })
const optional = <T>(value: fc.Arbitrary<T>) => fc.option(value, { freq: 3, nil: null })
const number = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 3_600_000 }), weight: 12 },
  { arbitrary: fc.integer(), weight: 1 },
  { arbitrary: fc.bigInt().map(String), weight: 1 },
  { arbitrary: fc.double(), weight: 1 },
)
const url = fc.oneof(
  { arbitrary: fc.webUrl({ withQueryParameters: true }), weight: 8 },
  { arbitrary: fc.webUrl({ withFragments: true, withQueryParameters: true }), weight: 1 },
  {
    arbitrary: fc.constantFrom('javascript:alert(1)', 'https://u:p@a.example/', 'ftp://a.example/'),
    weight: 1,
  },
)
const error = fc.oneof(
  {
    arbitrary: fc.record(
      { code: fc.string(), message: fc.string({ unit: 'grapheme' }) },
      { requiredKeys: [] },
    ),
    weight: 4,
  },
  { arbitrary: fc.jsonValue(), weight: 1 },
)

const COLLECTION_ID = fc.integer({ min: 1, max: 12 }).map((n) => `col_${n}`)

const call = fc.record({
  fn: fc.constant('record' as const),
  org_id: sometimes(fc.constantFrom('org_1', 'org_2')),
  render_id: sometimes(fc.integer({ min: 1, max: 40 }).map((n) => `img_${n}`)),
  kind: sometimes(fc.constantFrom('image', 'video')),
  status: sometimes(fc.constantFrom('queued', 'rendering', 'completed', 'failed')),
  template_id: optional(sometimes(fc.constantFrom('tpl_abc', 'tpl.v2:x-1'))),
  result_url: optional(sometimes(fc.webUrl())),
  duration_ms: optional(number),
  webhook_url: optional(sometimes(url)),
  collection_id: fc.option(sometimes(COLLECTION_ID), { freq: 4, nil: null }),
  error: optional(error.map((value) => JSON.stringify(value))),
})

// Mostly the arguments that fit the status (no result_url when failed, no error when
// completed), so that most calls get past that rule; the rest keep whatever was drawn.
export const renderCall = fc.tuple(call, fc.integer({ min: 0, max: 5 })).map(([c, dice]) =>
  dice === 0
    ? c
    : {
        ...c,
        result_url: c.status === 'failed' ? null : c.result_url,
        error: c.status === 'completed' ? null : c.error,
      },
)

export const collectionCall = fc.record({
  fn: fc.constant('open' as const),
  org_id: sometimes(fc.constantFrom('org_1', 'org_2')),
  collection_id: sometimes(COLLECTION_ID),
  child_count: fc.oneof(
    { arbitrary: fc.integer({ min: 1, max: 4 }), weight: 6 },
    { arbitrary: number, weight: 1 },
  ),
  template_id: optional(sometimes(fc.constant('tpl_abc'))),
  webhook_url: optional(sometimes(url)),
})

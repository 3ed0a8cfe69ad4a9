import { listDestinations } from '../store/destinations.ts'
import { withContext } from './context.ts'
import type { Command } from './io.ts'
import { actionError, parse, printJson, printTable } from './io.ts'
import { formatLimits } from './limits.ts'

const usage = `imtegrate-webhooks destinations list [--org ORG] [--backing-off] [--json]

  Each destination (an org endpoint, or an org's render webhook_url origin) as it is delivered to
  now: requests in flight, deliveries due now and waiting for a retry, its limits, and whether it
  is healthy or backing off (its attempts time out or cannot connect: one request at a time,
  spaced out, until one is answered; deliveries held back spend no retry), with its last error.
  Those backing off come first, then the busiest.`

export const destinationsCommand: Command = {
  usage,
  async run(args, io) {
    const [action, ...rest] = args
    if (action !== 'list') {
      throw actionError(action)
    }
    const { values } = parse(rest, {
      org: { type: 'string' },
      'backing-off': { type: 'boolean' },
      json: { type: 'boolean' },
    })
    const destinations = await withContext(io, ({ db }) =>
      listDestinations(db, { orgId: values.org, backingOff: values['backing-off'] }),
    )
    if (values.json === true) {
      printJson(io, destinations)
      return
    }
    printTable(
      io,
      destinations.map((d) => ({
        ...d,
        destination: d.endpoint_id ?? d.target,
        limits: formatLimits(d.max_in_flight, d.rate_limit),
        state:
          d.state === 'healthy' ? 'healthy' : `backing off until ${d.backoff_until?.toISOString() ?? '-'}`,
      })),
      [
        'destination',
        'org_id',
        'in_flight',
        'due',
        'waiting',
        'limits',
        'state',
        'backoff_since',
        'last_error',
      ],
    )
  },
}

import type { Server } from 'node:http'
import { errorText } from './errors.ts'

/**
 * Starts `server` listening on host:port. A port in use or a host that cannot be bound fails
 * with one line saying what could not be served where, and which variables chose it.
 */
export async function listenOn(
  server: Server,
  where: { host: string; port: number },
  what: string,
  variables: string,
): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(where.port, where.host, () => {
      server.off('error', reject)
      resolve()
    })
  }).catch((error: unknown) => {
    throw new Error(
      `cannot serve ${what} on ${where.host}:${where.port} (${variables}): ${errorText(error)}`,
      {
        cause: error,
      },
    )
  })
}

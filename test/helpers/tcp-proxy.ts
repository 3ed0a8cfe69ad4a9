import type { AddressInfo, Socket } from 'node:net'
import { connect, createServer } from 'node:net'

export type TcpProxy = {
  /** `url` with its host and port replaced by the proxy's. */
  via(url: string): string
  /**
   * Every connection open now goes silent: the proxy keeps both sockets open, accepts what they
   * send and forwards nothing, the way a dead route or a frozen server looks from the client.
   * Connections made later are forwarded normally.
   */
  freeze(): number
  close(): Promise<void>
}

/** A TCP proxy on 127.0.0.1 to `target` (host:port of a URL). */
export async function startTcpProxy(target: string): Promise<TcpProxy> {
  const { hostname, port } = new URL(target)
  const pairs = new Set<[Socket, Socket]>()
  const server = createServer((client) => {
    const upstream = connect({ host: hostname, port: Number(port) })
    const pair: [Socket, Socket] = [client, upstream]
    pairs.add(pair)
    client.pipe(upstream)
    upstream.pipe(client)
    const end = () => {
      pairs.delete(pair)
      client.destroy()
      upstream.destroy()
    }
    client.on('error', end).on('close', end)
    upstream.on('error', end).on('close', end)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port: proxyPort } = server.address() as AddressInfo
  const frozen = new Set<Socket>()
  return {
    via(url) {
      const u = new URL(url)
      u.hostname = '127.0.0.1'
      u.port = String(proxyPort)
      return u.toString()
    },
    freeze() {
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream)
        upstream.unpipe(client)
        // Read and discard, so the client's kernel sees its bytes acknowledged and keeps waiting.
        for (const socket of [client, upstream]) {
          frozen.add(socket)
          socket.on('data', () => undefined)
        }
      }
      return pairs.size
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const [client, upstream] of pairs) {
          client.destroy()
          upstream.destroy()
        }
        server.close(() => resolve())
      }),
  }
}

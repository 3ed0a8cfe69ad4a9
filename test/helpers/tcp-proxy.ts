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
  /**
   * The database as a client sees it stopped: every connection is closed and new ones are
   * refused (nothing listens on the proxy's port) until `resume()`.
   */
  stop(): Promise<void>
  /** Listens again on the same port: the database is back. */
  resume(): Promise<void>
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
  const destroyAll = () => {
    for (const [client, upstream] of pairs) {
      client.destroy()
      upstream.destroy()
    }
  }
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
    stop: () =>
      new Promise<void>((resolve) => {
        destroyAll()
        server.close(() => resolve())
      }),
    resume: () =>
      new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(proxyPort, '127.0.0.1', () => {
          server.off('error', reject)
          resolve()
        })
      }),
    close: () =>
      new Promise<void>((resolve) => {
        destroyAll()
        if (!server.listening) {
          resolve()
          return
        }
        server.close(() => resolve())
      }),
  }
}

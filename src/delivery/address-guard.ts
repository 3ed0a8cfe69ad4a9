import type { LookupAddress, LookupAllOptions } from 'node:dns'
import { lookup as dnsLookup } from 'node:dns'
import type { LookupFunction } from 'node:net'
import { isIP } from 'node:net'
import { CodedError } from '../errors.ts'
import type { AddressReason } from './addresses.ts'
import { cidrSet, classifyAddress, embeddedIPv4 } from './addresses.ts'
import type { TargetGuard } from './http.ts'

/**
 * The SSRF guard, applied at connect time: a webhook URL is chosen by a customer, so without it
 * a delivery could be pointed at our own loopback, the cloud metadata service or the private
 * network behind us.
 *
 * The guard judges the address that is actually connected to, not the URL text: `lookup`
 * replaces dns.lookup inside net/tls connect, so there is no window between our check and the
 * connection (no DNS rebinding), and `checkHostname` covers IP literals, for which Node skips
 * `lookup` altogether. What kind of address is refused is addresses.ts's to say.
 */

export const ERR_TARGET_REFUSED = 'ERR_TARGET_REFUSED'

/** A connection we refuse to make. `code` is what http.ts maps to the `target_refused` transport error. */
export class TargetRefusedError extends CodedError<typeof ERR_TARGET_REFUSED> {
  readonly address: string
  readonly hostname: string
  readonly reason: AddressReason

  constructor(address: string, hostname: string, reason: AddressReason) {
    const host = hostname === address ? '' : ` for host ${hostname}`
    super(
      ERR_TARGET_REFUSED,
      `refused to connect to ${address} (${reason} address)${host}; ` +
        'set WEBHOOK_ALLOW_PRIVATE_TARGETS to allow it',
    )
    this.address = address
    this.hostname = hostname
    this.reason = reason
  }
}

/** Resolves every address of a host; dns.lookup with `all: true`, replaceable in tests. */
export type ResolveAll = (
  hostname: string,
  options: LookupAllOptions,
  callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void

export type Allow = { all: boolean; cidrs: readonly string[] }

/**
 * The guard for `allow` (config.allowPrivateTargets), or undefined when everything is allowed
 * (development and tests). CIDRs let chosen non-public ranges through; a bad one throws.
 */
export function createTargetGuard(
  allow: Allow,
  options: { resolve?: ResolveAll } = {},
): TargetGuard | undefined {
  if (allow.all) {
    return undefined
  }
  const allowed = cidrSet(allow.cidrs)
  const resolve = options.resolve ?? dnsLookup

  /**
   * The reason `ip` is refused, or undefined when it may be connected to. An embedded IPv4 is
   * what gets reached, so an IPv4 entry also admits its mapped, NAT64 and 6to4 forms.
   */
  function refusal(ip: string): AddressReason | undefined {
    const reason = classifyAddress(ip)
    if (reason === undefined || reason === 'invalid') {
      return reason
    }
    const v4 = embeddedIPv4(ip)
    const permitted = allowed.has(ip) || (v4 !== undefined && allowed.has(v4))
    return permitted ? undefined : reason
  }

  function checkHostname(hostname: string): void {
    if (isIP(hostname) === 0) {
      return // a name: `lookup` judges what it resolves to
    }
    const reason = refusal(hostname)
    if (reason !== undefined) {
      throw new TargetRefusedError(hostname, hostname, reason)
    }
  }

  const lookup: LookupFunction = (hostname, lookupOptions, callback) => {
    resolve(hostname, { ...lookupOptions, all: true }, (error, addresses) => {
      if (error) {
        callback(error, '')
        return
      }
      // One bad address refuses the host: connect may try any of them (happy eyeballs).
      for (const { address } of addresses) {
        const reason = refusal(address)
        if (reason !== undefined) {
          callback(new TargetRefusedError(address, hostname, reason), '')
          return
        }
      }
      const first = addresses[0]
      if (lookupOptions.all) {
        callback(null, addresses)
      } else if (first) {
        callback(null, first.address, first.family)
      } else {
        callback(notFound(hostname), '')
      }
    })
  }

  return { lookup, checkHostname }
}

function notFound(hostname: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), {
    code: 'ENOTFOUND',
    syscall: 'getaddrinfo',
    hostname,
  })
}

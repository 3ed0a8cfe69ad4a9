import type { LookupAddress, LookupAllOptions } from 'node:dns'
import { lookup as dnsLookup } from 'node:dns'
import type { LookupFunction } from 'node:net'
import { isIP } from 'node:net'
import type { TargetGuard } from './http.ts'

/**
 * SSRF guard: a webhook URL is chosen by a customer, so without this guard a delivery could be
 * pointed at our own loopback, the cloud metadata service or the private network behind us.
 *
 * The guard judges the address that is actually connected to, not the URL text: `lookup`
 * replaces dns.lookup inside net/tls connect, so there is no window between our check and the
 * connection (no DNS rebinding), and `checkHostname` covers IP literals, for which Node skips
 * `lookup` altogether.
 */

/** Why an address is not public. */
export type AddressReason =
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'cgnat'
  | 'link-local'
  | 'unique-local'
  | 'multicast'
  | 'broadcast'
  | 'reserved'
  | 'documentation'
  | 'benchmarking'
  | 'discard'
  | 'teredo'
  | 'invalid'

/** A parsed CIDR: the network as an integer (32 or 128 bits) and its prefix length. */
type Cidr = { family: 4 | 6; network: bigint; prefix: number }

const WIDTH = { 4: 32, 6: 128 } as const

export const ERR_TARGET_REFUSED = 'ERR_TARGET_REFUSED'

/** A connection we refuse to make. `code` is what http.ts maps to the `target_refused` transport error. */
export class TargetRefusedError extends Error {
  readonly code = ERR_TARGET_REFUSED
  readonly address: string
  readonly hostname: string
  readonly reason: AddressReason

  constructor(address: string, hostname: string, reason: AddressReason) {
    const host = hostname === address ? '' : ` for host ${hostname}`
    super(
      `refused to connect to ${address} (${reason} address)${host}; ` +
        'set WEBHOOK_ALLOW_PRIVATE_TARGETS to allow it',
    )
    this.name = 'TargetRefusedError'
    this.address = address
    this.hostname = hostname
    this.reason = reason
  }
}

// ---------------------------------------------------------------------------------------------
// Address arithmetic

/** An IPv4 or IPv6 address as an unsigned integer, or undefined when the text is not an address. */
function toInteger(ip: string): { family: 4 | 6; value: bigint } | undefined {
  // A zone (fe80::1%eth0) only selects an interface; the address itself is what we judge.
  const address = ip.split('%', 1)[0] ?? ''
  const family = isIP(address)
  if (family === 4) {
    return { family, value: ipv4ToInteger(address) }
  }
  if (family === 6) {
    return { family, value: ipv6ToInteger(address) }
  }
  return undefined
}

/** Only called on text isIP accepted, so the four parts are decimal octets. */
function ipv4ToInteger(ip: string): bigint {
  return ip.split('.').reduce((value, octet) => (value << 8n) | BigInt(Number(octet)), 0n)
}

/** Only called on text isIP accepted: at most one `::`, hex groups, maybe a dotted IPv4 tail. */
function ipv6ToInteger(ip: string): bigint {
  let text = ip
  const tailStart = text.lastIndexOf(':') + 1
  if (text.includes('.', tailStart)) {
    // Rewrite the dotted tail (::ffff:1.2.3.4) as the two hex groups it stands for.
    const v4 = ipv4ToInteger(text.slice(tailStart))
    text = `${text.slice(0, tailStart)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`
  }
  const [head = '', tail] = text.split('::')
  const headGroups = head === '' ? [] : head.split(':')
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':')
  const zeros = tail === undefined ? [] : Array(8 - headGroups.length - tailGroups.length).fill('0')
  return [...headGroups, ...zeros, ...tailGroups].reduce(
    (value, group) => (value << 16n) | BigInt(Number.parseInt(group, 16)),
    0n,
  )
}

function integerToIPv4(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => Number((value >> shift) & 0xffn)).join('.')
}

function contains(cidr: Cidr, family: 4 | 6, value: bigint): boolean {
  const shift = BigInt(WIDTH[family] - cidr.prefix)
  return cidr.family === family && value >> shift === cidr.network >> shift
}

/** Parses `address/prefix`; throws an Error that names the offending text. */
export function parseCidr(text: string): Cidr {
  const [address = '', prefixText, extra] = text.trim().split('/')
  const parsed = address.includes('%') ? undefined : toInteger(address)
  if (!parsed || prefixText === undefined || extra !== undefined || !/^\d{1,3}$/.test(prefixText)) {
    throw new Error(`invalid CIDR "${text}": expected an IPv4 or IPv6 address, a slash and a prefix length`)
  }
  const prefix = Number(prefixText)
  if (prefix > WIDTH[parsed.family]) {
    throw new Error(`invalid CIDR "${text}": prefix length ${prefix} exceeds ${WIDTH[parsed.family]}`)
  }
  // Host bits are ignored (10.1.2.3/8 means 10.0.0.0/8), as in BlockList.addSubnet.
  return { family: parsed.family, network: parsed.value, prefix }
}

// ---------------------------------------------------------------------------------------------
// Classification (IANA special-purpose registries, RFC 6890 and successors)

type Rule = { cidr: Cidr; reason: AddressReason }

function rules(table: ReadonlyArray<readonly [string, AddressReason]>): Rule[] {
  return table.map(([cidr, reason]) => ({ cidr: parseCidr(cidr), reason }))
}

// First match wins, so a narrower range is listed before a wider one that contains it.
const IPV4_RULES = rules([
  ['0.0.0.0/8', 'unspecified'], // "this network"; Linux connects 0.0.0.0 to the local host
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'cgnat'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'], // includes the cloud metadata service 169.254.169.254
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'reserved'], // IETF protocol assignments
  ['192.0.2.0/24', 'documentation'],
  ['192.88.99.0/24', 'reserved'], // deprecated 6to4 relay anycast
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'benchmarking'],
  ['198.51.100.0/24', 'documentation'],
  ['203.0.113.0/24', 'documentation'],
  ['224.0.0.0/4', 'multicast'],
  ['255.255.255.255/32', 'broadcast'],
  ['240.0.0.0/4', 'reserved'],
])

const IPV6_RULES = rules([
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['100::/64', 'discard'],
  ['2001::/32', 'teredo'], // the IPv4 inside is obfuscated and relayed: refuse, never unwrap
  ['2001:2::/48', 'benchmarking'],
  // Local-use NAT64 (RFC 8215): where its IPv4 sits depends on the translator's prefix length
  // (/48 to /96, RFC 6052), which a URL does not say, so no one reading is safe (64:ff9b:1:0:7f::
  // is 127.0.0.1 behind a /64 translator). Not globally reachable; allow it by CIDR if trusted.
  ['64:ff9b:1::/48', 'reserved'],
  ['2001::/23', 'reserved'], // IETF protocol assignments; holds no ordinary hosts
  ['2001:db8::/32', 'documentation'],
  ['3fff::/20', 'documentation'],
  ['fc00::/7', 'unique-local'],
  ['fe80::/10', 'link-local'],
  ['ff00::/8', 'multicast'],
])

const GLOBAL_UNICAST = parseCidr('2000::/3')

/**
 * IPv6 ranges that carry an IPv4 address, and where: a packet to one of them ends up at (or is
 * translated for) that IPv4 host, so it is judged as that IPv4 address.
 */
const EMBEDDING: ReadonlyArray<{ cidr: Cidr; shift: bigint }> = [
  { cidr: parseCidr('::ffff:0:0/96'), shift: 0n }, // IPv4-mapped
  { cidr: parseCidr('64:ff9b::/96'), shift: 0n }, // NAT64 well-known prefix
  { cidr: parseCidr('2002::/16'), shift: 80n }, // 6to4: the IPv4 is bits 16-47
  // IPv4-compatible (deprecated); :: and ::1 are not of this kind (see unwrap).
  { cidr: parseCidr('::/96'), shift: 0n },
]

/** The IPv4 address an IPv6 address embeds (mapped, compatible, NAT64, 6to4), if any. */
export function embeddedIPv4(ip: string): string | undefined {
  const parsed = toInteger(ip)
  return parsed?.family === 6 ? unwrap(parsed.value) : undefined
}

function unwrap(value: bigint): string | undefined {
  // An address with its own rule (::, ::1) is judged by it and embeds nothing, which also keeps
  // an IPv4 allowlist entry such as 0.0.0.0/8 from letting ::1 through.
  if (IPV6_RULES.some(({ cidr }) => contains(cidr, 6, value))) {
    return undefined
  }
  const found = EMBEDDING.find(({ cidr }) => contains(cidr, 6, value))
  return found ? integerToIPv4((value >> found.shift) & 0xffffffffn) : undefined
}

/** Why `ip` is not a public address, or undefined when it is. Text that is not an IP is 'invalid'. */
export function classifyAddress(ip: string): AddressReason | undefined {
  const parsed = toInteger(ip)
  if (!parsed) {
    return 'invalid'
  }
  if (parsed.family === 4) {
    return IPV4_RULES.find(({ cidr }) => contains(cidr, 4, parsed.value))?.reason
  }
  const listed = IPV6_RULES.find(({ cidr }) => contains(cidr, 6, parsed.value))
  if (listed) {
    return listed.reason
  }
  const v4 = unwrap(parsed.value)
  if (v4 !== undefined) {
    return classifyAddress(v4)
  }
  return contains(GLOBAL_UNICAST, 6, parsed.value) ? undefined : 'reserved'
}

export function isPublicAddress(ip: string): boolean {
  return classifyAddress(ip) === undefined
}

// ---------------------------------------------------------------------------------------------
// The guard

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
  const allowed = allow.cidrs.map(parseCidr)
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
    const parsed = toInteger(ip)
    const v4 = embeddedIPv4(ip)
    const candidates = [parsed, v4 === undefined ? undefined : toInteger(v4)]
    const permitted = candidates.some(
      (candidate) => candidate && allowed.some((cidr) => contains(cidr, candidate.family, candidate.value)),
    )
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

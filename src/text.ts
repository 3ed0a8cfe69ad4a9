/**
 * How many characters `text` has, counted as PostgreSQL's length() counts them: code points, so an
 * emoji or another character outside the Basic Multilingual Plane is one, not the two UTF-16 units
 * of `text.length`. Every length limit the SQL checks is counted this way in TypeScript too.
 * @example characters('a😀') // 2 ('a😀'.length is 3)
 */
export function characters(text: string): number {
  return [...text].length
}

/**
 * `text` safe to print on a terminal: control characters (escape sequences could retitle,
 * clear or recolour it; a receiver's answer is shown by the CLI) become visible \xNN escapes.
 */
export function printable(text: string): string {
  return text.replace(/\p{Cc}/gu, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
}

/**
 * A value someone typed, echoed in a message: printable, and cut to `max` characters (code
 * points, so no emoji is halved) with '…', so a 100k-character argument is not printed whole.
 * @example shown('ep_\u001b]0;x') // 'ep_\\x1b]0;x'
 */
export function shown(text: string, max = 80): string {
  const chars = [...text]
  return printable(chars.length > max ? `${chars.slice(0, max - 1).join('')}…` : text)
}

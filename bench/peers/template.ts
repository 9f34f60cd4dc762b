/** `{{name}}` placeholders in the peers' config templates (bench/peers/*.conf, *.cfg). */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/**
 * Reads `bench/peers/<template>` and writes it to `out` with every `{{name}}` replaced. A
 * placeholder without a value is an error: a silently empty directive would measure a different
 * config than the one meant.
 */
export function renderTemplate(
  root: string,
  template: string,
  out: string,
  values: Readonly<Record<string, string | number>>,
): string {
  const text = readFileSync(join(root, 'bench/peers', template), 'utf8')
  const rendered = text.replace(/\{\{(\w+)\}\}/g, (_whole, key: string) => {
    const value = values[key]
    if (value === undefined) throw new Error(`bench/peers/${template}: no value for {{${key}}}`)
    return String(value)
  })
  writeFileSync(out, rendered)
  return out
}

/** `1 worker`, `2 workers`. */
export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`
}

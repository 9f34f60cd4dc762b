/**
 * A consumer: a known caller, from the config's `consumers:` or the credential store. Workers
 * hold these compiled; a change replaces the object, so a stage may memo by reference.
 */

export type ConsumerSource = 'config' | 'store'

export interface Consumer {
  readonly name: string
  readonly groups: readonly string[]
  readonly groupSet: ReadonlySet<string>
  readonly tier: string | null
  readonly metadata: Readonly<Record<string, string>>
  readonly disabled: boolean
  /** The config owns its consumers: the admin API refuses to change them. */
  readonly source: ConsumerSource
}

/** Bounded waiting: every loop of the test suites ends by count or by time. */

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

export interface WaitOptions {
  readonly timeoutMs?: number
  readonly intervalMs?: number
  /** Names the condition in the error thrown at the timeout. */
  readonly what?: string
}

/**
 * Calls `check` until it returns something other than undefined/false, at most every
 * `intervalMs`, and returns that value; throws after `timeoutMs`.
 */
export async function waitUntil<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  options: WaitOptions = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 10_000
  const intervalMs = options.intervalMs ?? 50
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined && value !== false) return value
    if (Date.now() >= deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${options.what ?? 'a condition'}`,
      )
    }
    await sleep(intervalMs)
  }
}

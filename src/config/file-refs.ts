/** Whether a schema refers to another file: a `$ref` that is not a pointer into its own schema. */
export function hasFileRef(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return false
  if (Array.isArray(value)) return value.some(hasFileRef)
  for (const [key, child] of Object.entries(value)) {
    if (key === '$ref' && typeof child === 'string' && !child.startsWith('#')) return true
    if (hasFileRef(child)) return true
  }
  return false
}

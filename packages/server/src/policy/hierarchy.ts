/**
 * Every ancestor of an entity in a parent graph (Cedar's transitive closure): its parents, theirs
 * and so on, by key, without the entity itself unless a cycle leads back to it. One walk for the
 * engine's policy slicing, the in-process evaluator and the schema's action groups.
 */
export function ancestorKeys(
  key: string,
  parentsOf: (key: string) => Iterable<string> | undefined,
): Set<string> {
  const found = new Set<string>();
  const stack = [key];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    for (const parent of parentsOf(next) ?? []) {
      if (found.has(parent)) continue;
      found.add(parent);
      stack.push(parent);
    }
  }
  return found;
}

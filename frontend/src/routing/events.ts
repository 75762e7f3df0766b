// Closures changed (placed or lifted from the closures panel): an open route or isochrone is computed again.
const listeners = new Set<() => void>();

export const closureEvents = {
  on(listener: () => void): () => void {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
  changed(): void {
    for (const listener of listeners) listener();
  },
};

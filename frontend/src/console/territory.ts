// The territory the console shows: `?territoire=<name or id>`, else the first one the server lists. Panels
// name it in their API calls (the routing and dispatch APIs take a territory name or id).
import { api } from '../core/api';

export interface Territory {
  id: number;
  name: string;
  bbox: [number, number, number, number] | null;
}

let cached: { key: string; found: Promise<Territory | null> } | null = null;

export function currentTerritory(): Promise<Territory | null> {
  const wanted = new URLSearchParams(location.search).get('territoire');
  const key = wanted ?? '';
  if (!cached || cached.key !== key) {
    const found = api<{ territories: Territory[] }>('/api/territories')
      .catch(() => ({ territories: [] as Territory[] }))
      .then(({ territories }) => territories.find((tr) => wanted && (tr.name === wanted || String(tr.id) === wanted)) ?? territories[0] ?? null);
    cached = { key, found };
    // A failed or empty answer is not kept: the next page asks again.
    void found.then((tr) => {
      if (!tr && cached?.found === found) cached = null;
    });
  }
  return cached.found;
}

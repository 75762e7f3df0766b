// The open incidents of the territory, kept current: loaded through the REST API, then patched by the live
// stream (created, updated, resolved). The incidents panel and its map overlay both read it.
import { api } from '../core/api';
import type { LoggedEvent } from '../live/stream';
import { incidentOf, sortIncidents, upsertIncident, type Incident } from './model';

/** How long a newly arrived incident stays highlighted. */
export const FRESH_MS = 15_000;

export class IncidentStore {
  private list: Incident[] = [];
  private readonly freshUntil = new Map<number, number>();
  private readonly listeners = new Set<(arrived: Incident[]) => void>();
  private serial = 0;
  loaded = false;

  constructor(
    private readonly territoryId: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Every incident held (open ones, plus resolved ones seen live), highest priority first. */
  all(): Incident[] {
    return sortIncidents(this.list);
  }

  get(id: number): Incident | undefined {
    return this.list.find((i) => i.id === id);
  }

  isFresh(id: number): boolean {
    return (this.freshUntil.get(id) ?? 0) > this.now();
  }

  onChange(listener: (arrived: Incident[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** (Re)load the open incidents; live events that arrived meanwhile are kept if newer. */
  async load(): Promise<void> {
    const serial = ++this.serial;
    const q = new URLSearchParams({ territory: String(this.territoryId), status: 'open' });
    const { incidents } = await api<{ incidents: Incident[] }>(`/api/incidents?${q}`);
    if (serial !== this.serial) return;
    let merged: Incident[] = this.list.filter((i) => i.status !== 'resolved' && incidents.some((n) => n.id === i.id));
    // After the first load, an incident this reload brings (opened while the stream was away, or just
    // before it was ready) is as new to the operator as one the stream announces.
    const arrived = this.loaded ? incidents.filter((n) => !this.list.some((i) => i.id === n.id)) : [];
    for (const incident of incidents) merged = upsertIncident(merged, incident).list;
    this.list = merged;
    this.loaded = true;
    for (const incident of arrived) this.freshUntil.set(incident.id, this.now() + FRESH_MS);
    this.changed(arrived);
  }

  /** Apply a live `incident` event; returns true when it changed the list. */
  apply(event: LoggedEvent): boolean {
    const found = incidentOf(event);
    if (!found) return false;
    const territory = (found.incident as Incident & { territory_id?: number }).territory_id ?? event.territory;
    if (territory !== null && territory !== undefined && territory !== this.territoryId) return false;
    const { list, added, changed } = upsertIncident(this.list, found.incident);
    if (!changed) return false;
    this.list = list;
    if (added && found.incident.status !== 'resolved') this.freshUntil.set(found.incident.id, this.now() + FRESH_MS);
    this.changed(added && found.incident.status !== 'resolved' ? [found.incident] : []);
    return true;
  }

  private changed(arrived: Incident[]): void {
    for (const listener of [...this.listeners]) listener(arrived);
  }
}

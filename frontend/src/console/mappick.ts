// Picking on the map for panels (a route's start, a street to close, a zone's corners): while a panel holds
// the pick, a click goes to it instead of opening a feature card, the cursor is a crosshair, Enter on the
// focused map picks its centre (keyboard users) and Escape cancels.
import type { Map as MapLibreMap, PointLike } from 'maplibre-gl';
import type { LonLat } from '../routing/format';

export interface Pick {
  lonLat: LonLat;
  /** Screen position in the map's canvas (CSS pixels). */
  point: { x: number; y: number };
  map: MapLibreMap;
}

interface Claim {
  owner: string;
  onPick(pick: Pick): void;
  onCancel?(): void;
}

export class MapPicker {
  private map: MapLibreMap | null = null;
  private claim: Claim | null = null;
  private readonly listeners = new Set<(owner: string | null) => void>();

  attach(map: MapLibreMap): () => void {
    this.map = map;
    const container = map.getContainer();
    const onKey = (event: KeyboardEvent) => {
      if (!this.claim) return;
      if (event.key === 'Escape') {
        event.preventDefault();
        this.cancel();
      } else if (event.key === 'Enter') {
        event.preventDefault();
        const canvas = map.getCanvas();
        const point = { x: canvas.clientWidth / 2, y: canvas.clientHeight / 2 };
        const c = map.getCenter();
        this.deliver({ lonLat: [c.lng, c.lat], point, map });
      }
    };
    container.addEventListener('keydown', onKey);
    return () => {
      container.removeEventListener('keydown', onKey);
      this.cancel();
      this.map = null;
    };
  }

  /** Give the next clicks to `owner` until `release` (or another claim, or Escape). */
  start(owner: string, onPick: (pick: Pick) => void, onCancel?: () => void): void {
    const previous = this.claim;
    this.claim = { owner, onPick, onCancel };
    if (previous && previous.owner !== owner) previous.onCancel?.();
    this.setCursor();
    this.changed();
  }

  release(owner: string): void {
    if (this.claim?.owner !== owner) return;
    this.claim = null;
    this.setCursor();
    this.changed();
  }

  cancel(): void {
    const claim = this.claim;
    if (!claim) return;
    this.claim = null;
    this.setCursor();
    claim.onCancel?.();
    this.changed();
  }

  owner(): string | null {
    return this.claim?.owner ?? null;
  }

  /** Called by the console on every map click: true when a panel took it. */
  handleClick(lngLat: { lng: number; lat: number }, point: PointLike): boolean {
    if (!this.claim || !this.map) return false;
    const p = Array.isArray(point) ? { x: point[0], y: point[1] } : (point as { x: number; y: number });
    this.deliver({ lonLat: [lngLat.lng, lngLat.lat], point: { x: p.x, y: p.y }, map: this.map });
    return true;
  }

  onChange(listener: (owner: string | null) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private deliver(pick: Pick): void {
    this.claim?.onPick(pick);
  }

  private setCursor(): void {
    if (this.map) this.map.getCanvas().style.cursor = this.claim ? 'crosshair' : '';
  }

  private changed(): void {
    for (const listener of this.listeners) listener(this.owner());
  }
}

export const mapPicker = new MapPicker();

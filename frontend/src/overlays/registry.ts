// The deck.gl overlay registry: a feature adds layers drawn above the base map (routes, isochrones, H3
// aggregates, crews…) without touching the map core. The core composes the registered layers into one
// MapboxOverlay and redraws when an overlay calls `invalidate(id)` or is (un)registered or toggled.
import type { Layer } from '@deck.gl/core';
import type { Role } from '../core/api';

export interface OverlayDefinition {
  /** Stable id; deck layer ids should start with it (`<id>-…`) so that picking can be traced back. */
  id: string;
  /** Drawing order: lower is drawn first (under). */
  order?: number;
  roles?: readonly Role[];
  /** Shown at start (default true). */
  visible?: boolean;
  /** The deck.gl layers to draw now; called again after `invalidate(id)`. */
  layers(): Layer[];
}

export class OverlayRegistry {
  private readonly overlays = new Map<string, OverlayDefinition>();
  private readonly hidden = new Set<string>();
  private readonly listeners = new Set<() => void>();

  register(overlay: OverlayDefinition): () => void {
    if (this.overlays.has(overlay.id)) throw new Error(`overlay ${overlay.id} is already registered`);
    this.overlays.set(overlay.id, overlay);
    if (overlay.visible === false) this.hidden.add(overlay.id);
    this.changed();
    return () => this.unregister(overlay.id);
  }

  unregister(id: string): void {
    if (this.overlays.delete(id)) {
      this.hidden.delete(id);
      this.changed();
    }
  }

  setVisible(id: string, visible: boolean): void {
    if (!this.overlays.has(id)) return;
    const was = !this.hidden.has(id);
    if (visible) this.hidden.delete(id);
    else this.hidden.add(id);
    if (was !== visible) this.changed();
  }

  isVisible(id: string): boolean {
    return this.overlays.has(id) && !this.hidden.has(id);
  }

  /** Ask for a redraw after an overlay's data changed. */
  invalidate(id: string): void {
    if (this.overlays.has(id)) this.changed();
  }

  ids(): string[] {
    return [...this.overlays.keys()];
  }

  /** Every visible overlay's layers for `role`, in drawing order. */
  compose(role: Role): Layer[] {
    return [...this.overlays.values()]
      .filter((o) => !this.hidden.has(o.id) && (!o.roles || o.roles.includes(role)))
      .sort((a, b) => (a.order ?? 100) - (b.order ?? 100) || a.id.localeCompare(b.id))
      .flatMap((o) => o.layers());
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }
}

export const overlays = new OverlayRegistry();

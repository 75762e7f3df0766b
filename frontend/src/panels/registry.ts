// The side-panel registry: a feature (incidents, sensors, crews, scenarios, alerts…) adds its panel with
// `panels.register({...})` from its own module; the console shows the panels the signed-in role may use.
import type { Map as MapLibreMap } from 'maplibre-gl';
import type { Me, Role } from '../core/api';
import type { MessageKey, Translate } from '../i18n';
import type { OverlayRegistry } from '../overlays/registry';

export interface PanelContext {
  map: MapLibreMap;
  me: Me;
  t: Translate;
  overlays: OverlayRegistry;
  /** Open the feature card of one OGC item (collection id and feature id). */
  openFeature(collection: string, featureId: string | number): void;
}

export interface PanelDefinition {
  /** Stable id (also the DOM id suffix and the URL hash a later issue may use). */
  id: string;
  /** i18n key of the tab title. */
  title: MessageKey;
  /** Tab order: lower first (built-ins use 10, 20; features from 100). */
  order?: number;
  /** Roles that see the panel; absent = every signed-in role. */
  roles?: readonly Role[];
  /** Fill `container`; return a cleanup called when the panel is removed or the console torn down. */
  mount(container: HTMLElement, context: PanelContext): void | (() => void);
}

export class PanelRegistry {
  private readonly panels = new Map<string, PanelDefinition>();
  private readonly listeners = new Set<() => void>();

  /** Add a panel; returns the function that removes it. A duplicate id is a programming error. */
  register(panel: PanelDefinition): () => void {
    if (!/^[a-z][a-z0-9-]*$/.test(panel.id)) throw new Error(`panel id ${JSON.stringify(panel.id)}: use [a-z0-9-]`);
    if (this.panels.has(panel.id)) throw new Error(`panel ${panel.id} is already registered`);
    this.panels.set(panel.id, panel);
    this.changed();
    return () => this.unregister(panel.id);
  }

  unregister(id: string): void {
    if (this.panels.delete(id)) this.changed();
  }

  /** The panels `role` may use, in tab order (then by id, for a stable order). */
  forRole(role: Role): PanelDefinition[] {
    return [...this.panels.values()]
      .filter((p) => !p.roles || p.roles.includes(role))
      .sort((a, b) => (a.order ?? 100) - (b.order ?? 100) || a.id.localeCompare(b.id));
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }
}

/** The console's registry: import it and register at module load. */
export const panels = new PanelRegistry();

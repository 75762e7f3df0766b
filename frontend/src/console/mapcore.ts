// The map core: MapLibre with our own style (/tiles/style.json), the 2D/3D switch, layer visibility by
// catalog layer, targeted tile refresh for live edits, and the deck.gl overlay host. Features never edit
// this file: they register panels (panels/registry.ts) and overlays (overlays/registry.ts).
import { MapboxOverlay } from '@deck.gl/mapbox';
import * as maplibregl from 'maplibre-gl';
import type { Map as MapLibreMap, StyleSpecification } from 'maplibre-gl';
import workerUrl from 'maplibre-gl/dist/maplibre-gl-worker.mjs?url';
import 'maplibre-gl/dist/maplibre-gl.css';
import type { Role } from '../core/api';
import type { Lang, Translate } from '../i18n';
import type { OverlayRegistry } from '../overlays/registry';
import { tilesToRefresh, type BBox, type TileId } from '../live/tiles';

// MapLibre 6 resolves its worker next to its own module by default; in a bundle that file is a hashed asset.
maplibregl.setWorkerUrl(workerUrl);

export const SOURCE = 'hyperviseur';
export type ViewMode = '2d' | '3d';

export interface LegendEntry {
  'source-layer': string;
  title: string;
  title_fr: string;
  title_en: string;
  layers: string[];
}

export interface SiteKind {
  kind: string;
  icon: string;
  title: string;
}

export interface StyleMetadata {
  'hyperviseur:legend'?: LegendEntry[];
  'hyperviseur:site-kinds'?: SiteKind[];
  'hyperviseur:toggles'?: { '3d'?: { show: string[]; hide: string[] } };
}

interface TileLike {
  tileID: { canonical: TileId };
}
// The parts of MapLibre 6's TileManager the targeted refresh reads (underscore members are internal: guarded).
interface TileManagerLike {
  getIds(): string[];
  getTileByID(id: string): TileLike | undefined;
  _outOfViewCache?: { filter(keep: (tile: TileLike) => boolean): void };
}

export interface MapCoreOptions {
  container: HTMLElement;
  lang: Lang;
  t: Translate;
  role: Role;
  overlays: OverlayRegistry;
  bounds?: [number, number, number, number] | null;
}

export class MapCore {
  readonly map: MapLibreMap;
  readonly ready: Promise<void>;
  mode: ViewMode = '2d';
  metadata: StyleMetadata = {};
  private readonly hidden = new Set<string>();
  private readonly deck: MapboxOverlay;
  private readonly listeners = new Set<() => void>();
  /** Tiles refetched by live events since start (what the tests and the status bar read). */
  refreshCount = 0;

  constructor(private readonly options: MapCoreOptions) {
    const { t } = options;
    this.map = new maplibregl.Map({
      container: options.container,
      style: `/tiles/style.json?lang=${options.lang}`,
      bounds: options.bounds ?? undefined,
      fitBoundsOptions: { padding: 24 },
      center: options.bounds ? undefined : [2.35, 46.6],
      zoom: options.bounds ? undefined : 5,
      maxPitch: 75,
      hash: false,
      // The sources' attribution comes from our TileJSON (OpenStreetMap contributors, the authority's data).
      attributionControl: { compact: true },
      locale: {
        'NavigationControl.ZoomIn': t('ml.zoomIn'),
        'NavigationControl.ZoomOut': t('ml.zoomOut'),
        'NavigationControl.ResetBearing': t('ml.resetBearing'),
        'AttributionControl.ToggleAttribution': t('ml.attribution'),
        'Map.Title': t('ml.map'),
      },
    });
    this.map.addControl(new maplibregl.NavigationControl({ visualizePitch: true }), 'top-right');
    this.map.addControl(new maplibregl.ScaleControl({ unit: 'metric', maxWidth: 120 }), 'bottom-right');
    this.map.keyboard.enable();
    this.deck = new MapboxOverlay({ interleaved: false, layers: [] });
    this.map.addControl(this.deck);
    options.overlays.onChange(() => this.redrawOverlays());
    this.ready = new Promise((resolve) => {
      this.map.once('load', () => {
        this.metadata = (this.map.getStyle().metadata ?? {}) as StyleMetadata;
        this.redrawOverlays();
        this.changed();
        resolve();
      });
    });
  }

  /** Catalog layer names drawn by the style, with their style layer ids and titles. */
  legend(): LegendEntry[] {
    return this.metadata['hyperviseur:legend'] ?? [];
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  isLayerVisible(collection: string): boolean {
    return !this.hidden.has(collection);
  }

  setLayerVisible(collection: string, visible: boolean): void {
    if (visible) this.hidden.delete(collection);
    else this.hidden.add(collection);
    this.applyVisibility();
  }

  has3d(): boolean {
    return Boolean(this.metadata['hyperviseur:toggles']?.['3d']);
  }

  setMode(mode: ViewMode, { animate = true } = {}): void {
    this.mode = mode;
    this.applyVisibility();
    const camera = mode === '3d' ? { pitch: 60, bearing: this.map.getBearing() || -20 } : { pitch: 0, bearing: 0 };
    if (animate) this.map.easeTo({ ...camera, duration: 600 });
    else this.map.jumpTo(camera);
    this.changed();
  }

  /** Show or hide every style layer from the catalog state and the 2D/3D toggle of the style's metadata. */
  private applyVisibility(): void {
    const toggle = this.metadata['hyperviseur:toggles']?.['3d'];
    const only3d = new Set(toggle?.show ?? []);
    const only2d = new Set(toggle?.hide ?? []);
    for (const entry of this.legend()) {
      for (const id of entry.layers) {
        if (!this.map.getLayer(id)) continue;
        let visible = !this.hidden.has(entry['source-layer']);
        if (this.mode === '3d' && only2d.has(id)) visible = false;
        if (this.mode === '2d' && only3d.has(id)) visible = false;
        this.map.setLayoutProperty(id, 'visibility', visible ? 'visible' : 'none');
      }
    }
    this.changed();
  }

  /**
   * Refetch the tiles a change of `bbox` touches (null: every tile). MapLibre 6's `map.refreshTiles(source,
   * ids)` reloads in-view tiles whose canonical id is listed (a combined tile holds every layer, so the
   * layer does not narrow it down); the tiles MapLibre keeps for panning back (its out-of-view cache) would
   * still be stale, so those meeting the box are dropped. Returns the number of in-view tiles refetched.
   */
  refresh(bbox: BBox | null): number {
    const manager = (this.map.style as unknown as { tileManagers?: Record<string, TileManagerLike> })
      ?.tileManagers?.[SOURCE];
    if (!manager || bbox === null) {
      this.map.refreshTiles(SOURCE);
      const n = manager ? manager.getIds().length : 0;
      this.refreshCount += n;
      return n;
    }
    const loaded = manager
      .getIds()
      .map((id) => manager.getTileByID(id)?.tileID.canonical)
      .filter((c): c is TileId => Boolean(c))
      .map(({ z, x, y }) => ({ z, x, y }));
    const targets = tilesToRefresh(loaded, bbox);
    manager._outOfViewCache?.filter((tile) => tilesToRefresh([tile.tileID.canonical], bbox).length === 0);
    if (targets.length) this.map.refreshTiles(SOURCE, targets);
    this.refreshCount += targets.length;
    return targets.length;
  }

  redrawOverlays(): void {
    this.deck.setProps({ layers: this.options.overlays.compose(this.options.role) });
  }

  destroy(): void {
    this.map.remove();
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }
}

export type { StyleSpecification };

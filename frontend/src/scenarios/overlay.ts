// The scenarios panel's deck.gl layers (through the overlay registry): a run's results — H3 hexagons of the
// residents hit (colour ramp), isolated areas, the events' geometries, closed roads, affected assets coloured
// by cause — each with its toggle; and the editor's draft (a polygon being drawn, a picked point, picked
// streets). Owned by the mounted panel: its cleanup removes everything.
import { GeoJsonLayer, PathLayer, ScatterplotLayer } from '@deck.gl/layers';
import type { Layer } from '@deck.gl/core';
import type { OverlayRegistry } from '../overlays/registry';
import { ownOverlay } from '../overlays/owned';
import { dashify, hexToRgba, type LonLat } from '../routing/format';
import type { RunLayers } from './client';
import { causeColour, rampColour } from './model';

export const SCENARIOS_OVERLAY = 'scenarios';
export const RESULT_LAYERS = ['h3', 'isolated_areas', 'events', 'closed_roads', 'affected'] as const;
export type ResultLayer = (typeof RESULT_LAYERS)[number];

type Feature = GeoJSON.Feature<GeoJSON.Geometry | null, Record<string, unknown>>;

export interface Draft {
  ring: LonLat[];
  points: LonLat[];
  lines: LonLat[][];
}

const DRAFT_COLOUR = hexToRgba('#c2410c');

export class ScenarioOverlay {
  private result: RunLayers | null = null;
  private readonly hidden = new Set<ResultLayer>();
  private draft: Draft = { ring: [], points: [], lines: [] };
  private readonly unregister: () => void;

  constructor(private readonly overlays: OverlayRegistry) {
    this.unregister = ownOverlay(overlays, { id: SCENARIOS_OVERLAY, order: 300 }, () => this.layers());
  }

  setResult(result: RunLayers | null): void {
    this.result = result;
    this.redraw();
  }

  hasResult(): boolean {
    return this.result !== null;
  }

  count(kind: ResultLayer): number {
    return this.result?.[kind]?.features?.length ?? 0;
  }

  setVisible(kind: ResultLayer, visible: boolean): void {
    if (visible) this.hidden.delete(kind);
    else this.hidden.add(kind);
    this.redraw();
  }

  isVisible(kind: ResultLayer): boolean {
    return !this.hidden.has(kind);
  }

  setDraft(draft: Partial<Draft>): void {
    this.draft = { ring: [], points: [], lines: [], ...draft };
    this.redraw();
  }

  destroy(): void {
    this.unregister();
  }

  private redraw(): void {
    this.overlays.invalidate(SCENARIOS_OVERLAY);
  }

  private features(kind: ResultLayer): Feature[] {
    if (!this.result || this.hidden.has(kind)) return [];
    return ((this.result[kind]?.features ?? []) as Feature[]).filter((f) => f.geometry);
  }

  private layers(): Layer[] {
    const out: Layer[] = [];
    const h3 = this.features('h3');
    if (h3.length) {
      const max = Math.max(1, ...h3.map((f) => Number(f.properties?.residents_hit ?? 0)));
      out.push(
        new GeoJsonLayer<Record<string, unknown>>({
          id: `${SCENARIOS_OVERLAY}-h3`,
          data: h3 as never,
          filled: true,
          stroked: true,
          getFillColor: (f: Feature) => rampColour(Number(f.properties?.residents_hit ?? 0), max),
          getLineColor: [127, 0, 0, 140],
          lineWidthUnits: 'pixels',
          getLineWidth: 1,
          pickable: false,
        }),
      );
    }
    const isolated = this.features('isolated_areas');
    if (isolated.length) {
      out.push(
        new GeoJsonLayer({
          id: `${SCENARIOS_OVERLAY}-isolated`,
          data: isolated as never,
          filled: true,
          stroked: true,
          getFillColor: [179, 38, 30, 50],
          getLineColor: [179, 38, 30, 220],
          lineWidthUnits: 'pixels',
          getLineWidth: 2,
        }),
      );
    }
    const events = this.features('events');
    if (events.length) {
      out.push(
        new GeoJsonLayer({
          id: `${SCENARIOS_OVERLAY}-events`,
          data: events as never,
          filled: true,
          stroked: true,
          getFillColor: [10, 88, 168, 45],
          getLineColor: [10, 88, 168, 230],
          lineWidthUnits: 'pixels',
          getLineWidth: 2,
          pointRadiusUnits: 'pixels',
          getPointRadius: 7,
        }),
      );
    }
    const roads = this.features('closed_roads');
    if (roads.length) {
      out.push(
        new GeoJsonLayer({
          id: `${SCENARIOS_OVERLAY}-closed-roads`,
          data: roads as never,
          stroked: true,
          filled: false,
          getLineColor: [179, 38, 30, 255],
          lineWidthUnits: 'pixels',
          getLineWidth: 5,
        }),
      );
    }
    const affected = this.features('affected').filter((f) => f.geometry?.type === 'Point');
    if (affected.length) {
      out.push(
        new ScatterplotLayer<Feature>({
          id: `${SCENARIOS_OVERLAY}-affected`,
          data: affected,
          getPosition: (f) => (f.geometry as GeoJSON.Point).coordinates as LonLat,
          getFillColor: (f) => hexToRgba(causeColour(f.properties?.causes as string[] | undefined), 230),
          getLineColor: [255, 255, 255, 255],
          stroked: true,
          lineWidthUnits: 'pixels',
          getLineWidth: 1,
          radiusUnits: 'pixels',
          getRadius: (f) => (f.properties?.layer === 'critical_sites' ? 7 : 4),
        }),
      );
    }
    const { ring, points, lines } = this.draft;
    const paths: LonLat[][] = [...lines];
    if (ring.length > 1) paths.push(...dashify(ring.length > 2 ? [...ring, ring[0]] : ring, 8, 6));
    if (paths.length) {
      out.push(
        new PathLayer({
          id: `${SCENARIOS_OVERLAY}-draft`,
          data: paths.map((path) => ({ path })),
          getPath: (d: { path: LonLat[] }) => d.path,
          getColor: DRAFT_COLOUR,
          widthUnits: 'pixels',
          getWidth: 4,
        }),
      );
    }
    const corners = [...ring, ...points];
    if (corners.length) {
      out.push(
        new ScatterplotLayer({
          id: `${SCENARIOS_OVERLAY}-draft-points`,
          data: corners,
          getPosition: (p: LonLat) => p,
          getFillColor: DRAFT_COLOUR,
          radiusUnits: 'pixels',
          getRadius: 5,
        }),
      );
    }
    return out;
  }
}

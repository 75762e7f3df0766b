// The closures panel (admin and operator: group CLOSURES): active closures with their reason and expiry,
// closing a street by clicking it (its stored arcs, both directions) or a zone by drawing a polygon (a
// flooded area), lifting them. Closures are drawn as red dashed lines and zones; an open route follows.
import { GeoJsonLayer, PathLayer, ScatterplotLayer } from '@deck.gl/layers';
import type { Layer } from '@deck.gl/core';
import type { MapGeoJSONFeature } from 'maplibre-gl';
import { api } from '../core/api';
import { clear, h } from '../core/dom';
import { getLang, type Translate } from '../i18n';
import { SOURCE } from '../console/mapcore';
import { mapPicker, type Pick } from '../console/mappick';
import { fetchFeature } from '../console/ogc';
import { currentTerritory } from '../console/territory';
import type { OverlayRegistry } from '../overlays/registry';
import { ownOverlay } from '../overlays/owned';
import { panels } from '../panels/registry';
import { closureEvents } from './events';
import { closureBody, dashify, formatClock, hexToRgba, nearestCandidates, type LonLat, type Pixel } from './format';

export const CLOSURES_OVERLAY = 'closures';
const RED = hexToRgba('#b3261e');

interface Closure {
  id: number;
  kind: string;
  edge_ids: number[];
  area: GeoJSON.Polygon | GeoJSON.MultiPolygon | null;
  reason: string;
  valid_until: string | null;
  created_by: string | null;
  arcs_affected: number;
}

/** Durations offered for a closure (seconds; null = until lifted). */
const DURATIONS: (number | null)[] = [1800, 3600, 7200, 14400, 86400, null];

function linesOf(geometry: GeoJSON.Geometry | null): LonLat[][] {
  if (!geometry) return [];
  if (geometry.type === 'LineString') return [geometry.coordinates as LonLat[]];
  if (geometry.type === 'MultiLineString') return geometry.coordinates as LonLat[][];
  if (geometry.type === 'Polygon') return geometry.coordinates as LonLat[][];
  if (geometry.type === 'MultiPolygon') return (geometry.coordinates as LonLat[][][]).flat();
  return [];
}

/** The stored arcs under a click: road_edges features of our tiles nearest to it (both directions). */
export function streetUnder(pick: Pick): { ids: number[]; name: string | null } {
  const { x, y } = pick.point;
  const features = pick.map
    .queryRenderedFeatures([
      [x - 14, y - 14],
      [x + 14, y + 14],
    ])
    .filter((f: MapGeoJSONFeature) => f.source === SOURCE && f.sourceLayer === 'road_edges' && f.id !== undefined);
  const project = (c: LonLat): Pixel => {
    const p = pick.map.project(c);
    return [p.x, p.y];
  };
  const candidates = features.map((f) => ({
    value: { id: Number(f.id), name: (f.properties?.name as string | undefined) ?? null },
    lines: linesOf(f.geometry).map((line) => line.map(project)),
  }));
  const nearest = nearestCandidates([x, y], candidates);
  return { ids: [...new Set(nearest.map((n) => n.id))], name: nearest[0]?.name ?? null };
}

panels.register({
  id: 'closures',
  title: 'panel.closures',
  order: 110,
  roles: ['admin', 'operator'],
  mount(container, { t, overlays }) {
    return mountClosures(container, t, overlays);
  },
});

function mountClosures(container: HTMLElement, t: Translate, overlays: OverlayRegistry): () => void {
  const lang = getLang();
  let closures: Closure[] = [];
  let draft: LonLat[] = [];
  let destroyed = false;
  const edgeLines = new Map<number, LonLat[][]>();

  const layers = (): Layer[] => {
    const out: Layer[] = [];
    const dashes: { path: LonLat[] }[] = [];
    const areas: GeoJSON.Feature[] = [];
    for (const c of closures) {
      for (const id of c.edge_ids) for (const line of edgeLines.get(id) ?? []) for (const d of dashify(line, 10, 6)) dashes.push({ path: d });
      if (c.area) {
        areas.push({ type: 'Feature', geometry: c.area, properties: { id: c.id } });
        for (const ring of linesOf(c.area)) for (const d of dashify(ring, 14, 8)) dashes.push({ path: d });
      }
    }
    if (areas.length) {
      out.push(
        new GeoJsonLayer({
          id: `${CLOSURES_OVERLAY}-areas`,
          data: areas,
          filled: true,
          stroked: false,
          getFillColor: [179, 38, 30, 60],
        }),
      );
    }
    if (dashes.length) {
      out.push(
        new PathLayer({
          id: `${CLOSURES_OVERLAY}-lines`,
          data: dashes,
          getPath: (d: { path: LonLat[] }) => d.path,
          getColor: RED,
          widthUnits: 'pixels',
          getWidth: 5,
        }),
      );
    }
    if (draft.length) {
      const ring = draft.length > 2 ? [...draft, draft[0]] : draft;
      out.push(
        new PathLayer({
          id: `${CLOSURES_OVERLAY}-draft`,
          data: dashify(ring, 8, 6).map((path) => ({ path })),
          getPath: (d: { path: LonLat[] }) => d.path,
          getColor: hexToRgba('#c2410c'),
          widthUnits: 'pixels',
          getWidth: 3,
        }),
        new ScatterplotLayer({
          id: `${CLOSURES_OVERLAY}-draft-corners`,
          data: draft,
          getPosition: (p: LonLat) => p,
          getFillColor: hexToRgba('#c2410c'),
          radiusUnits: 'pixels',
          getRadius: 5,
        }),
      );
    }
    return out;
  };
  const unregister = ownOverlay(overlays, { id: CLOSURES_OVERLAY, order: 250 }, layers);
  const redraw = () => overlays.invalidate(CLOSURES_OVERLAY);

  const status = h('p', { id: 'closures-status', className: 'muted', role: 'status', 'aria-live': 'polite' });
  const list = h('ul', { id: 'closures-list', className: 'closures' });
  const reason = h('input', { id: 'closure-reason', type: 'text', maxlength: 200, autocomplete: 'off', placeholder: t('closures.reasonPlaceholder') });
  const duration = h(
    'select',
    { id: 'closure-duration' },
    DURATIONS.map((d) => h('option', { value: d === null ? '' : String(d), selected: d === 3600 }, d === null ? t('closures.untilLifted') : t('closures.for', { duration: durationLabel(d) }))),
  );
  function durationLabel(seconds: number): string {
    return seconds < 3600 ? `${seconds / 60}\u00a0min` : `${seconds / 3600}\u00a0h`;
  }
  const streetButton = h('button', { type: 'button', id: 'closure-pick-street', className: 'button secondary', 'aria-pressed': 'false' }, t('closures.pickStreet'));
  const areaButton = h('button', { type: 'button', id: 'closure-draw-area', className: 'button secondary', 'aria-pressed': 'false' }, t('closures.drawArea'));
  const finishButton = h('button', { type: 'button', id: 'closure-area-finish', className: 'button', hidden: true }, t('closures.finishArea'));

  const territoryName = async () => (await currentTerritory())?.name ?? null;

  async function load(): Promise<void> {
    const territory = await territoryName();
    if (!territory || destroyed) return;
    try {
      const doc = await api<{ closures: Closure[] }>(`/api/routing/closures?${new URLSearchParams({ territory, active: 'true' })}`);
      if (destroyed) return;
      closures = doc.closures;
      await Promise.all(
        closures
          .flatMap((c) => c.edge_ids.slice(0, 100))
          .filter((id) => !edgeLines.has(id))
          .map(async (id) => {
            const feature = await fetchFeature('road_edges', id).catch(() => null);
            edgeLines.set(id, linesOf(feature?.geometry ?? null));
          }),
      );
    } catch (error) {
      status.textContent = t('error.generic', { detail: (error as Error).message });
    }
    if (destroyed) return;
    render();
    redraw();
  }

  function render(): void {
    clear(list);
    if (!closures.length) {
      list.appendChild(h('li', { className: 'muted', id: 'closures-empty' }, t('closures.none')));
      return;
    }
    for (const c of closures) {
      list.appendChild(
        h(
          'li',
          { 'data-closure': String(c.id) },
          h('strong', {}, c.reason),
          h('span', { className: 'muted' }, c.area ? t('closures.zone') : t('closures.street'), ' · ', t('closures.arcs', { count: c.arcs_affected })),
          h('span', {}, c.valid_until ? t('closures.until', { time: formatClock(c.valid_until, lang) }) : t('closures.untilLifted')),
          h(
            'button',
            {
              type: 'button',
              className: 'button secondary',
              id: `closure-delete-${c.id}`,
              'aria-label': t('closures.deleteNamed', { reason: c.reason }),
              onclick: () => void lift(c.id),
            },
            t('closures.delete'),
          ),
        ),
      );
    }
  }

  async function create(target: { edge_ids?: number[]; ring?: LonLat[] }, what: string): Promise<void> {
    const territory = await territoryName();
    if (!territory) return;
    const seconds = duration.value ? Number(duration.value) : null;
    status.textContent = t('closures.saving');
    try {
      await api('/api/routing/closures', { method: 'POST', body: closureBody({ territory, reason: reason.value, duration_s: seconds, ...target }) });
      status.textContent = t('closures.created', { what });
    } catch (error) {
      status.textContent = t('error.generic', { detail: (error as Error).message });
      return;
    }
    await load();
    closureEvents.changed();
  }

  async function lift(id: number): Promise<void> {
    try {
      await api(`/api/routing/closures/${id}`, { method: 'DELETE' });
      status.textContent = t('closures.lifted');
    } catch (error) {
      status.textContent = t('error.generic', { detail: (error as Error).message });
      return;
    }
    await load();
    closureEvents.changed();
  }

  const needReason = (): boolean => {
    if (reason.value.trim()) {
      reason.removeAttribute('aria-invalid');
      return true;
    }
    reason.setAttribute('aria-invalid', 'true');
    status.textContent = t('closures.reasonRequired');
    reason.focus();
    return false;
  };

  streetButton.addEventListener('click', () => {
    if (mapPicker.owner() === 'closure-street') return mapPicker.cancel();
    if (!needReason()) return;
    status.textContent = t('closures.pickStreetHint');
    mapPicker.start('closure-street', (pick) => {
      const street = streetUnder(pick);
      if (!street.ids.length) {
        status.textContent = t('closures.noStreet');
        return; // keep picking
      }
      mapPicker.release('closure-street');
      void create({ edge_ids: street.ids }, street.name ?? t('closures.street'));
    });
  });

  areaButton.addEventListener('click', () => {
    if (mapPicker.owner() === 'closure-area') return mapPicker.cancel();
    if (!needReason()) return;
    draft = [];
    finishButton.hidden = false;
    status.textContent = t('closures.drawHint');
    mapPicker.start(
      'closure-area',
      (pick) => {
        draft = [...draft, pick.lonLat];
        finishButton.disabled = draft.length < 3;
        redraw();
      },
      () => {
        draft = [];
        finishButton.hidden = true;
        redraw();
      },
    );
    finishButton.disabled = true;
  });

  finishButton.addEventListener('click', () => {
    if (draft.length < 3) return;
    const ring = draft;
    draft = [];
    finishButton.hidden = true;
    mapPicker.release('closure-area');
    redraw();
    void create({ ring }, t('closures.zone'));
  });

  const unwatchPicker = mapPicker.onChange((owner) => {
    streetButton.setAttribute('aria-pressed', String(owner === 'closure-street'));
    areaButton.setAttribute('aria-pressed', String(owner === 'closure-area'));
    if (owner !== 'closure-area' && !finishButton.hidden) {
      finishButton.hidden = true;
      draft = [];
      redraw();
    }
  });

  container.append(
    h('p', { className: 'muted' }, t('closures.intro')),
    h('div', { className: 'field' }, h('label', { for: 'closure-reason' }, t('closures.reason')), reason),
    h('div', { className: 'field' }, h('label', { for: 'closure-duration' }, t('closures.duration')), duration),
    h('div', { className: 'row' }, streetButton, areaButton, finishButton),
    status,
    h('h3', {}, t('closures.active')),
    list,
  );
  void load();

  return () => {
    destroyed = true;
    unwatchPicker();
    mapPicker.release('closure-street');
    mapPicker.release('closure-area');
    unregister();
  };
}

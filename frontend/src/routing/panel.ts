// The routing panel (every signed-in role: group ROUTING): a route between two points picked on the map or
// found by name, with its turn-by-turn list and GPX; isochrones around a point; the nearest facilities by
// travel time. Drawn by deck.gl through the overlay registry; recomputed when closures change.
import { GeoJsonLayer, PathLayer, ScatterplotLayer } from '@deck.gl/layers';
import type { Layer } from '@deck.gl/core';
import { api } from '../core/api';
import { clear, h } from '../core/dom';
import { getLang, type MessageKey, type Translate } from '../i18n';
import { mapPicker, type Pick } from '../console/mappick';
import { fetchCollections } from '../console/ogc';
import { SearchBox, type SearchResult } from '../console/search';
import { currentTerritory } from '../console/territory';
import { panels } from '../panels/registry';
import type { OverlayRegistry } from '../overlays/registry';
import { ownOverlay } from '../overlays/owned';
import { closureEvents } from './events';
import {
  closestUrl,
  formatDistance,
  formatDuration,
  hexToRgba,
  isochroneLegend,
  isochronesUrl,
  parseBudgets,
  PROFILES,
  renderInstruction,
  routeUrl,
  type Instruction,
  type LonLat,
  type Profile,
} from './format';

export const ROUTING_OVERLAY = 'routing';

interface RouteFeature {
  type: 'Feature';
  geometry: { type: 'LineString'; coordinates: LonLat[] };
  properties: { duration_s: number; distance_m: number; closures_applied: number; instructions: Instruction[] };
}

interface IsoFeature {
  type: 'Feature';
  geometry: GeoJSON.Geometry;
  properties: { budget_s: number; arcs_reached: number };
}

interface ClosestFeature {
  type: 'Feature';
  geometry: { type: 'Point'; coordinates: LonLat };
  properties: { rank: number; site_id: number | null; name: string | null; kind: string | null; duration_s: number; distance_m: number };
}

const FACILITY_KINDS = ['hospital', 'fire_station', 'police'] as const;

/** A short fingerprint of a line (the tests compare routes before and after a closure). */
export function lineSignature(coords: LonLat[]): string {
  let hash = 5381;
  for (const [x, y] of coords) {
    for (const v of [Math.round(x * 1e5), Math.round(y * 1e5)]) hash = ((hash * 33) ^ v) >>> 0;
  }
  return `${coords.length}-${hash.toString(16)}`;
}

function centre(result: SearchResult): LonLat | null {
  if (!result.bbox) return null;
  const [w, s, e, n] = result.bbox;
  return [(w + e) / 2, (s + n) / 2];
}

function errorText(t: Translate, error: unknown): string {
  return t('error.generic', { detail: (error as Error).message });
}

panels.register({
  id: 'routing',
  title: 'panel.routing',
  order: 100,
  mount(container, { t, overlays }) {
    return mountRouting(container, t, overlays);
  },
});

function mountRouting(container: HTMLElement, t: Translate, overlays: OverlayRegistry): () => void {
  const lang = getLang();
  let territory: string | null = null;
  let profile: Profile = 'car';
  let start: LonLat | null = null;
  let end: LonLat | null = null;
  let route: RouteFeature | null = null;
  let isoCentre: LonLat | null = null;
  let isoBudgets: number[] = [];
  let isos: IsoFeature[] = [];
  let closestPoint: LonLat | null = null;
  let closest: ClosestFeature[] = [];
  let routeController: AbortController | null = null;
  let destroyed = false;
  let available = new Set<string>();
  void fetchCollections()
    .then((cs) => (available = new Set(cs.map((c) => c.id))))
    .catch(() => undefined);

  const layers = (): Layer[] => {
    const out: Layer[] = [];
    if (isos.length) {
      const legend = isochroneLegend(isoBudgets, lang);
      const fillOf = (budget: number) => legend.find((l) => l.budget_s === budget)?.fill ?? hexToRgba('#0a58a8', 60);
      out.push(
        new GeoJsonLayer({
          id: `${ROUTING_OVERLAY}-isochrones`,
          data: isos as unknown as GeoJSON.Feature[],
          filled: true,
          stroked: true,
          getFillColor: (f: unknown) => fillOf((f as IsoFeature).properties.budget_s),
          getLineColor: (f: unknown) => {
            const [r, g, b] = fillOf((f as IsoFeature).properties.budget_s);
            return [r, g, b, 230];
          },
          lineWidthUnits: 'pixels',
          getLineWidth: 2,
          pickable: false,
        }),
      );
    }
    if (route) {
      const path = [{ path: route.geometry.coordinates }];
      out.push(
        new PathLayer({
          id: `${ROUTING_OVERLAY}-route-casing`,
          data: path,
          getPath: (d: { path: LonLat[] }) => d.path,
          getColor: [255, 255, 255, 230],
          widthUnits: 'pixels',
          getWidth: 10,
          capRounded: true,
          jointRounded: true,
        }),
        new PathLayer({
          id: `${ROUTING_OVERLAY}-route`,
          data: path,
          getPath: (d: { path: LonLat[] }) => d.path,
          getColor: hexToRgba('#0a58a8'),
          widthUnits: 'pixels',
          getWidth: 6,
          capRounded: true,
          jointRounded: true,
        }),
      );
    }
    if (closest.length) {
      out.push(
        new ScatterplotLayer({
          id: `${ROUTING_OVERLAY}-closest`,
          data: closest,
          getPosition: (f: ClosestFeature) => f.geometry.coordinates,
          getFillColor: (f: ClosestFeature) => (f.properties.rank === 1 ? hexToRgba('#1a6b2c') : hexToRgba('#ffffff')),
          getLineColor: hexToRgba('#1a6b2c'),
          stroked: true,
          lineWidthUnits: 'pixels',
          getLineWidth: 3,
          radiusUnits: 'pixels',
          getRadius: 9,
        }),
      );
    }
    const markers: { at: LonLat; colour: [number, number, number, number] }[] = [];
    if (start) markers.push({ at: start, colour: hexToRgba('#1a6b2c') });
    if (end) markers.push({ at: end, colour: hexToRgba('#b3261e') });
    if (isoCentre) markers.push({ at: isoCentre, colour: hexToRgba('#08306b') });
    if (closestPoint) markers.push({ at: closestPoint, colour: hexToRgba('#c2410c') });
    if (markers.length) {
      out.push(
        new ScatterplotLayer({
          id: `${ROUTING_OVERLAY}-markers`,
          data: markers,
          getPosition: (m: { at: LonLat }) => m.at,
          getFillColor: (m: { colour: [number, number, number, number] }) => m.colour,
          getLineColor: [255, 255, 255, 255],
          stroked: true,
          lineWidthUnits: 'pixels',
          getLineWidth: 2,
          radiusUnits: 'pixels',
          getRadius: 7,
        }),
      );
    }
    return out;
  };
  const unregister = ownOverlay(overlays, { id: ROUTING_OVERLAY, order: 300 }, layers);
  const redraw = () => overlays.invalidate(ROUTING_OVERLAY);

  // --- Route -------------------------------------------------------------------------------------------
  const profileSelect = h(
    'select',
    {
      id: 'route-profile',
      onchange: (e: Event) => {
        profile = (e.target as HTMLSelectElement).value as Profile;
        void computeRoute();
        void computeIsochrones();
        void computeClosest();
      },
    },
    PROFILES.map((p) => h('option', { value: p, selected: p === profile }, t(`profile.${p}` as MessageKey))),
  );
  const status = h('p', { id: 'route-status', className: 'muted', role: 'status', 'aria-live': 'polite' });
  const summary = h('div', { id: 'route-summary', className: 'route-summary', hidden: true });
  const steps = h('ol', { id: 'route-steps', className: 'steps', 'aria-label': t('route.steps') });
  const gpx = h('a', { id: 'route-gpx', className: 'button secondary', hidden: true, download: 'itineraire.gpx' }, t('route.gpx'));

  const endpoints: Record<'start' | 'end', { box: SearchBox; pick: HTMLButtonElement }> = {} as never;
  const setEndpoint = (which: 'start' | 'end', at: LonLat | null, label?: string) => {
    if (which === 'start') start = at;
    else end = at;
    if (label !== undefined) endpoints[which].box.setValue(label);
    redraw();
    void computeRoute();
  };
  for (const which of ['start', 'end'] as const) {
    const box = new SearchBox(
      t,
      () => available,
      (result) => {
        const at = centre(result);
        if (at) setEndpoint(which, at);
      },
      `route-${which}`,
      which === 'start' ? 'route.start' : 'route.end',
    );
    const pick = h(
      'button',
      {
        type: 'button',
        id: `route-${which}-pick`,
        className: 'button secondary',
        'aria-pressed': 'false',
        onclick: () => startPick(`route-${which}`, pick, (p) => setEndpoint(which, p.lonLat, t('route.onMap'))),
      },
      t(which === 'start' ? 'route.pickStart' : 'route.pickEnd'),
    );
    endpoints[which] = { box, pick };
  }

  const pickButtons: HTMLButtonElement[] = [];
  const startPick = (owner: string, button: HTMLButtonElement, done: (p: Pick) => void) => {
    if (mapPicker.owner() === owner) {
      mapPicker.cancel();
      return;
    }
    mapPicker.start(
      owner,
      (p) => {
        mapPicker.release(owner);
        done(p);
      },
      () => undefined,
    );
    status.textContent = t('pick.hint');
    void button;
  };
  const unwatchPicker = mapPicker.onChange((owner) => {
    for (const button of pickButtons) button.setAttribute('aria-pressed', String(button.dataset.owner === owner));
    if (owner === null && status.textContent === t('pick.hint')) status.textContent = '';
  });

  async function computeRoute(): Promise<void> {
    routeController?.abort();
    if (!start || !end) {
      route = null;
      renderRoute();
      return;
    }
    territory ??= (await currentTerritory())?.name ?? null;
    if (!territory || destroyed) return;
    const controller = new AbortController();
    routeController = controller;
    status.textContent = t('route.computing');
    const query = { territory, start, end, profile, lang };
    try {
      const found = await api<RouteFeature>(routeUrl(query), { signal: controller.signal });
      if (controller.signal.aborted || destroyed) return;
      route = found;
      status.textContent = '';
      gpx.setAttribute('href', routeUrl({ ...query, format: 'gpx' }));
    } catch (error) {
      if (controller.signal.aborted || destroyed) return;
      route = null;
      status.textContent = errorText(t, error);
    }
    renderRoute();
    redraw();
  }

  function renderRoute(): void {
    clear(summary);
    clear(steps);
    summary.hidden = !route;
    gpx.hidden = !route;
    if (!route) {
      delete summary.dataset.signature;
      return;
    }
    const p = route.properties;
    summary.dataset.durationS = String(p.duration_s);
    summary.dataset.distanceM = String(p.distance_m);
    summary.dataset.signature = lineSignature(route.geometry.coordinates);
    summary.append(
      h('strong', { className: 'route-duration' }, formatDuration(p.duration_s, lang)),
      ' · ',
      h('span', { className: 'route-distance' }, formatDistance(p.distance_m, lang)),
      p.closures_applied ? h('span', { className: 'route-closures' }, ' · ', t('route.closuresApplied', { count: p.closures_applied })) : '',
    );
    for (const step of p.instructions) {
      const r = renderInstruction(step, lang);
      steps.appendChild(
        h(
          'li',
          { 'data-type': step.type },
          h('span', { className: 'step-icon', 'aria-hidden': 'true' }, r.icon),
          h('span', { className: 'step-text' }, r.text),
          r.distance ? h('span', { className: 'step-distance muted' }, r.distance) : null,
        ),
      );
    }
  }

  // --- Isochrones ----------------------------------------------------------------------------------------
  const budgetsInput = h('input', { id: 'iso-budgets', type: 'text', inputmode: 'numeric', value: '5, 10, 15', 'aria-describedby': 'iso-budgets-hint' });
  const isoStatus = h('p', { id: 'iso-status', className: 'muted', role: 'status', 'aria-live': 'polite' });
  const isoLegend = h('ul', { id: 'iso-legend', className: 'legend', 'aria-label': t('iso.legend') });
  const isoPick = h(
    'button',
    {
      type: 'button',
      id: 'iso-pick',
      className: 'button secondary',
      'aria-pressed': 'false',
      'data-owner': 'iso',
      onclick: () =>
        startPick('iso', isoPick, (p) => {
          isoCentre = p.lonLat;
          void computeIsochrones();
        }),
    },
    t('iso.pick'),
  );

  async function computeIsochrones(): Promise<void> {
    if (!isoCentre) return;
    const budgets = parseBudgets(budgetsInput.value);
    if (!budgets) {
      isoStatus.textContent = t('iso.badBudgets');
      budgetsInput.setAttribute('aria-invalid', 'true');
      return;
    }
    budgetsInput.removeAttribute('aria-invalid');
    territory ??= (await currentTerritory())?.name ?? null;
    if (!territory) return;
    isoStatus.textContent = t('iso.computing');
    try {
      const doc = await api<{ features: IsoFeature[] }>(isochronesUrl(territory, isoCentre, budgets, profile));
      if (destroyed) return;
      isos = [...doc.features].sort((a, b) => b.properties.budget_s - a.properties.budget_s);
      isoBudgets = budgets;
      isoStatus.textContent = '';
    } catch (error) {
      isos = [];
      isoStatus.textContent = errorText(t, error);
    }
    renderLegend();
    redraw();
  }

  function renderLegend(): void {
    clear(isoLegend);
    if (!isos.length) return;
    for (const item of isochroneLegend(isoBudgets, lang)) {
      const swatch = h('span', { className: 'swatch', 'aria-hidden': 'true' });
      swatch.style.backgroundColor = item.colour;
      isoLegend.appendChild(h('li', { 'data-budget-s': String(item.budget_s) }, swatch, item.label));
    }
  }

  // --- Closest facilities --------------------------------------------------------------------------------
  const kindSelect = h(
    'select',
    { id: 'closest-kind', onchange: () => void computeClosest() },
    FACILITY_KINDS.map((k) => h('option', { value: k }, t(`closest.kind.${k}` as MessageKey))),
  );
  const closestStatus = h('p', { id: 'closest-status', className: 'muted', role: 'status', 'aria-live': 'polite' });
  const closestList = h('ol', { id: 'closest-list', className: 'closest' });
  const closestPick = h(
    'button',
    {
      type: 'button',
      id: 'closest-pick',
      className: 'button secondary',
      'aria-pressed': 'false',
      'data-owner': 'closest',
      onclick: () =>
        startPick('closest', closestPick, (p) => {
          closestPoint = p.lonLat;
          void computeClosest();
        }),
    },
    t('closest.pick'),
  );

  async function computeClosest(): Promise<void> {
    if (!closestPoint) return;
    territory ??= (await currentTerritory())?.name ?? null;
    if (!territory) return;
    closestStatus.textContent = t('closest.computing');
    try {
      const doc = await api<{ features: ClosestFeature[] }>(closestUrl(territory, closestPoint, kindSelect.value, 3, profile));
      if (destroyed) return;
      closest = doc.features;
      closestStatus.textContent = closest.length ? '' : t('closest.none');
    } catch (error) {
      closest = [];
      closestStatus.textContent = errorText(t, error);
    }
    clear(closestList);
    for (const f of closest) {
      const p = f.properties;
      closestList.appendChild(
        h(
          'li',
          { 'data-site-id': String(p.site_id ?? '') },
          h('strong', {}, p.name ?? t(`closest.kind.${kindSelect.value}` as MessageKey)),
          ' ',
          h('span', { className: 'muted' }, `${formatDuration(p.duration_s, lang)} · ${formatDistance(p.distance_m, lang)}`),
        ),
      );
    }
    redraw();
  }

  const clearAll = h(
    'button',
    {
      type: 'button',
      id: 'route-clear',
      className: 'button secondary',
      onclick: () => {
        routeController?.abort();
        start = end = isoCentre = closestPoint = null;
        route = null;
        isos = [];
        closest = [];
        endpoints.start.box.setValue('');
        endpoints.end.box.setValue('');
        status.textContent = '';
        renderRoute();
        renderLegend();
        clear(closestList);
        mapPicker.cancel();
        redraw();
      },
    },
    t('route.clear'),
  );

  for (const which of ['start', 'end'] as const) {
    endpoints[which].pick.dataset.owner = `route-${which}`;
    pickButtons.push(endpoints[which].pick);
  }
  pickButtons.push(isoPick, closestPick);

  container.append(
    h('p', { className: 'muted' }, t('route.intro')),
    h('div', { className: 'field' }, h('label', { for: 'route-profile' }, t('route.profile')), profileSelect),
    h('div', { className: 'field' }, h('label', { for: 'route-start' }, t('route.start')), endpoints.start.box.element, endpoints.start.pick),
    h('div', { className: 'field' }, h('label', { for: 'route-end' }, t('route.end')), endpoints.end.box.element, endpoints.end.pick),
    status,
    summary,
    steps,
    h('div', { className: 'row' }, gpx, clearAll),
    h('h3', {}, t('iso.title')),
    h(
      'div',
      { className: 'field' },
      h('label', { for: 'iso-budgets' }, t('iso.budgets')),
      budgetsInput,
      h('span', { id: 'iso-budgets-hint', className: 'muted small' }, t('iso.budgetsHint')),
    ),
    isoPick,
    isoStatus,
    isoLegend,
    h('h3', {}, t('closest.title')),
    h('div', { className: 'field' }, h('label', { for: 'closest-kind' }, t('closest.kind')), kindSelect),
    closestPick,
    closestStatus,
    closestList,
  );
  budgetsInput.addEventListener('change', () => void computeIsochrones());

  const unwatchClosures = closureEvents.on(() => {
    void computeRoute();
    void computeIsochrones();
    void computeClosest();
  });

  return () => {
    destroyed = true;
    routeController?.abort();
    unwatchClosures();
    unwatchPicker();
    for (const owner of ['route-start', 'route-end', 'iso', 'closest']) mapPicker.release(owner);
    unregister();
  };
}

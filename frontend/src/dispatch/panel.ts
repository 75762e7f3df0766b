// The crews panel (admin, operator, planner: group DISPATCH): crews with their positions, the active plan's
// routes (ordered stops, ETAs) drawn on the map, and "Planifier", which computes a new plan with a small
// time budget and shows its assignments, the jobs left out with their reason, and its KPIs.
import { PathLayer, ScatterplotLayer } from '@deck.gl/layers';
import type { Layer } from '@deck.gl/core';
import { api, ApiError } from '../core/api';
import { clear, h } from '../core/dom';
import { formatNumber, getLang, type Translate } from '../i18n';
import { currentTerritory } from '../console/territory';
import type { OverlayRegistry } from '../overlays/registry';
import { ownOverlay } from '../overlays/owned';
import { panels } from '../panels/registry';
import { formatClock, formatDistance, formatDuration, hexToRgba, planBody, routeUrl, type LonLat } from '../routing/format';
import { crewColour, crewStart, lonLatOf, reasonKey, routeLegs, type Crew, type Plan } from './plan';

export const CREWS_OVERLAY = 'crews';
const BUDGETS_S = [2, 5, 10];

interface DrawnRoute {
  crewId: number;
  colour: [number, number, number, number];
  paths: LonLat[][];
}

panels.register({
  id: 'crews',
  title: 'panel.crews',
  order: 120,
  roles: ['admin', 'operator', 'planner'],
  mount(container, { t, overlays }) {
    return mountCrews(container, t, overlays);
  },
});

function mountCrews(container: HTMLElement, t: Translate, overlays: OverlayRegistry): () => void {
  const lang = getLang();
  let crews: Crew[] = [];
  let plan: Plan | null = null;
  let drawn: DrawnRoute[] = [];
  let destroyed = false;
  let drawSerial = 0;

  const colourOf = (crewId: number) => {
    const index = crews.findIndex((c) => c.id === crewId);
    return crewColour(index < 0 ? crewId : index);
  };

  const layers = (): Layer[] => {
    const out: Layer[] = [];
    const paths = drawn.flatMap((d) => d.paths.map((path) => ({ path, colour: d.colour })));
    if (paths.length) {
      out.push(
        new PathLayer({
          id: `${CREWS_OVERLAY}-routes`,
          data: paths,
          getPath: (d: { path: LonLat[] }) => d.path,
          getColor: (d: { colour: [number, number, number, number] }) => d.colour,
          widthUnits: 'pixels',
          getWidth: 4,
          jointRounded: true,
          capRounded: true,
        }),
      );
    }
    const stops = (plan?.routes ?? []).flatMap((r) => r.stops.map((s) => ({ at: lonLatOf(s.location), colour: hexToRgba(colourOf(r.crew_id)) })));
    if (stops.length) {
      out.push(
        new ScatterplotLayer({
          id: `${CREWS_OVERLAY}-stops`,
          data: stops,
          getPosition: (s: { at: LonLat }) => s.at,
          getFillColor: [255, 255, 255, 255],
          getLineColor: (s: { colour: [number, number, number, number] }) => s.colour,
          stroked: true,
          lineWidthUnits: 'pixels',
          getLineWidth: 3,
          radiusUnits: 'pixels',
          getRadius: 6,
        }),
      );
    }
    if (crews.length) {
      out.push(
        new ScatterplotLayer({
          id: `${CREWS_OVERLAY}-positions`,
          data: crews,
          getPosition: (c: Crew) => crewStart(c),
          getFillColor: (c: Crew) => hexToRgba(colourOf(c.id)),
          getLineColor: [255, 255, 255, 255],
          stroked: true,
          lineWidthUnits: 'pixels',
          getLineWidth: 2,
          radiusUnits: 'pixels',
          getRadius: 8,
        }),
      );
    }
    return out;
  };
  const unregister = ownOverlay(overlays, { id: CREWS_OVERLAY, order: 350 }, layers);
  const redraw = () => overlays.invalidate(CREWS_OVERLAY);

  const budget = h(
    'select',
    { id: 'plan-budget' },
    BUDGETS_S.map((s) => h('option', { value: String(s), selected: s === 2 }, t('dispatch.budgetValue', { seconds: s }))),
  );
  const runButton = h('button', { type: 'button', id: 'plan-run', className: 'button' }, t('dispatch.plan'));
  const refreshButton = h('button', { type: 'button', id: 'crews-refresh', className: 'button secondary' }, t('dispatch.refresh'));
  const status = h('p', { id: 'plan-status', className: 'muted', role: 'status', 'aria-live': 'polite' });
  const crewList = h('ul', { id: 'crews-list', className: 'crews' });
  const kpis = h('dl', { id: 'plan-kpis', className: 'kpis', hidden: true });
  const routes = h('div', { id: 'plan-routes' });
  const unassigned = h('div', { id: 'plan-unassigned' });

  async function territoryName(): Promise<string | null> {
    return (await currentTerritory())?.name ?? null;
  }

  async function load(): Promise<void> {
    const territory = await territoryName();
    if (!territory || destroyed) return;
    const q = new URLSearchParams({ territory });
    try {
      const [crewDoc, active] = await Promise.all([
        api<{ crews: Crew[] }>(`/api/dispatch/crews?${q}`),
        api<Plan>(`/api/dispatch/plans/active?${q}`).catch((error: unknown) => {
          if (error instanceof ApiError && error.status === 404) return null;
          throw error;
        }),
      ]);
      if (destroyed) return;
      crews = crewDoc.crews.filter((c) => c.active);
      plan = active;
    } catch (error) {
      status.textContent = t('error.generic', { detail: (error as Error).message });
    }
    render();
    void drawRoutes();
  }

  async function runPlan(): Promise<void> {
    const territory = await territoryName();
    if (!territory) return;
    runButton.disabled = true;
    runButton.setAttribute('aria-busy', 'true');
    status.textContent = t('dispatch.planning');
    try {
      plan = await api<Plan>('/api/dispatch/plan', { method: 'POST', body: planBody(territory, Number(budget.value)) });
      if (destroyed) return;
      status.textContent = t('dispatch.planned', { id: plan.id, seconds: formatNumber(plan.solve_time_s, 1, lang) });
    } catch (error) {
      status.textContent = t('error.generic', { detail: (error as Error).message });
    } finally {
      runButton.disabled = false;
      runButton.removeAttribute('aria-busy');
    }
    await load();
  }

  /** Each crew's legs by road (crew-van routes), straight lines where no route comes back. */
  async function drawRoutes(): Promise<void> {
    const serial = ++drawSerial;
    const territory = await territoryName();
    const byId = new Map(crews.map((c) => [c.id, c]));
    const pending = (plan?.routes ?? []).map((route) => ({
      crewId: route.crew_id,
      colour: hexToRgba(colourOf(route.crew_id)),
      legs: routeLegs(route, byId.get(route.crew_id)),
    }));
    // Straight lines at once, roads when they arrive.
    drawn = pending.map((p) => ({ crewId: p.crewId, colour: p.colour, paths: p.legs.map(([a, b]) => [a, b]) }));
    redraw();
    if (!territory) return;
    const legs = pending.flatMap((p) => p.legs).length;
    if (legs > 60) return; // a large plan stays in straight lines: one request per leg would be too many
    const roads = await Promise.all(
      pending.map(async (p) => ({
        ...p,
        paths: await Promise.all(
          p.legs.map(async ([a, b]) => {
            try {
              const found = await api<{ geometry: { coordinates: LonLat[] } }>(routeUrl({ territory, start: a, end: b, profile: 'crew_van', lang }));
              return found.geometry.coordinates;
            } catch {
              return [a, b];
            }
          }),
        ),
      })),
    );
    if (serial !== drawSerial || destroyed) return;
    drawn = roads.map((r) => ({ crewId: r.crewId, colour: r.colour, paths: r.paths }));
    routes.dataset.roads = 'true';
    redraw();
  }

  function swatch(colour: string): HTMLElement {
    const el = h('span', { className: 'swatch', 'aria-hidden': 'true' });
    el.style.backgroundColor = colour;
    return el;
  }

  function render(): void {
    clear(crewList);
    if (!crews.length) crewList.appendChild(h('li', { className: 'muted', id: 'crews-empty' }, t('dispatch.noCrews')));
    for (const crew of crews) {
      const where = crew.position ? t('dispatch.positionLive', { time: formatClock(crew.position.updated_at, lang) }) : t('dispatch.positionHome');
      crewList.appendChild(
        h(
          'li',
          { 'data-crew': String(crew.id) },
          swatch(colourOf(crew.id)),
          h('strong', {}, crew.name),
          h('span', { className: 'muted' }, `${where} · ${formatClock(crew.shift_start, lang)}–${formatClock(crew.shift_end, lang)}`),
          crew.skills.length ? h('span', { className: 'muted' }, crew.skills.join(', ')) : null,
        ),
      );
    }

    clear(kpis);
    clear(routes);
    clear(unassigned);
    delete routes.dataset.roads;
    kpis.hidden = !plan;
    if (!plan) {
      routes.appendChild(h('p', { className: 'muted', id: 'plan-none' }, t('dispatch.noPlan')));
      return;
    }
    routes.dataset.plan = String(plan.id);
    const k = plan.kpis;
    const kpi = (label: string, value: string, key: string) => [h('dt', {}, label), h('dd', { 'data-kpi': key }, value)];
    kpis.append(
      ...kpi(t('dispatch.kpi.assigned'), `${k.assigned} / ${k.jobs}`, 'assigned'),
      ...kpi(t('dispatch.kpi.urgent'), `${k.urgent_assigned} / ${k.urgent_jobs}`, 'urgent'),
      ...kpi(t('dispatch.kpi.crews'), `${k.crews_used} / ${k.crews}`, 'crews'),
      ...kpi(t('dispatch.kpi.travel'), formatDuration(k.travel_s, lang), 'travel'),
      ...kpi(t('dispatch.kpi.distance'), formatDistance(k.distance_m, lang), 'distance'),
      ...kpi(t('dispatch.kpi.wait'), formatDuration(k.wait_s, lang), 'wait'),
    );
    routes.appendChild(h('h3', {}, t('dispatch.routes')));
    for (const route of plan.routes) {
      const stops = [...route.stops].sort((a, b) => a.sequence - b.sequence);
      routes.appendChild(
        h(
          'section',
          { className: 'crew-route', 'data-crew': String(route.crew_id), 'aria-label': route.crew },
          h('h4', {}, swatch(colourOf(route.crew_id)), route.crew, ' ', h('span', { className: 'muted' }, `${formatDuration(route.travel_s, lang)} · ${formatDistance(route.distance_m, lang)}`)),
          stops.length
            ? h(
                'ol',
                { className: 'stops' },
                stops.map((s) =>
                  h(
                    'li',
                    { 'data-job': String(s.job_id), 'data-sequence': String(s.sequence) },
                    h('span', { className: 'stop-eta' }, formatClock(s.eta, lang)),
                    ' ',
                    h('span', {}, s.description || t('crew.job', { id: s.job_id })),
                    s.priority >= 5 ? h('span', { className: 'urgent' }, ` ${t('dispatch.urgent')}`) : null,
                  ),
                ),
              )
            : h('p', { className: 'muted' }, t('dispatch.noStops')),
        ),
      );
    }
    if (plan.unassigned.length) {
      unassigned.appendChild(h('h3', {}, t('dispatch.unassigned', { count: plan.unassigned.length })));
      unassigned.appendChild(
        h(
          'ul',
          { className: 'unassigned' },
          plan.unassigned.map((u) => {
            const key = reasonKey(u.reason);
            return h('li', { 'data-job': String(u.job_id), 'data-reason': u.reason }, t('dispatch.unassignedItem', { id: u.job_id, reason: key ? t(key) : u.message }));
          }),
        ),
      );
    }
  }

  runButton.addEventListener('click', () => void runPlan());
  refreshButton.addEventListener('click', () => void load());
  container.append(
    h('p', { className: 'muted' }, t('dispatch.intro')),
    h('h3', {}, t('dispatch.crews')),
    crewList,
    h('div', { className: 'field' }, h('label', { for: 'plan-budget' }, t('dispatch.budget')), budget),
    h('div', { className: 'row' }, runButton, refreshButton),
    status,
    kpis,
    routes,
    unassigned,
  );
  void load();

  return () => {
    destroyed = true;
    unregister();
  };
}

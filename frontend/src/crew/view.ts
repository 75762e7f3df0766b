// The crew view (mobile width): own position and the jobs assigned to the signed-in crew.
// Jobs come from GET /api/dispatch/my-jobs in the plan's order; the way to the first one (`next_leg`) is drawn
// on the small map; the current job can be marked started, then done. No crew linked to the account: an
// empty state.
import * as maplibregl from 'maplibre-gl';
import { PathLayer, ScatterplotLayer } from '@deck.gl/layers';
import { api, request, type Me } from '../core/api';
import { languageSwitch, userBox } from '../core/chrome';
import { clear, h } from '../core/dom';
import { formatNumber, getLang, t } from '../i18n';
import { MapCore } from '../console/mapcore';
import { overlays } from '../overlays/registry';
import { territoryBounds, type ViewHooks } from '../console/view';
import { jobTitle, legLine, nextAction, orderedJobs, statusKey, type MyJob, type MyJobs } from '../dispatch/plan';
import { formatClock, hexToRgba, type LonLat } from '../routing/format';

const CREW_OVERLAY = 'crew-leg';

export interface Job {
  id: string | number;
  title?: string;
  label?: string;
  status?: string;
  address?: string;
  eta?: string;
}

/** The jobs of an answer of /api/dispatch/my-jobs, whatever its envelope (`{jobs: […]}` or a bare list). */
export function jobsFrom(body: unknown): Job[] {
  if (Array.isArray(body)) return body as Job[];
  if (body && typeof body === 'object') {
    const env = body as { jobs?: unknown; features?: unknown };
    if (Array.isArray(env.jobs)) return env.jobs as Job[];
    if (Array.isArray(env.features)) {
      return (env.features as { id: string | number; properties?: Record<string, unknown> }[]).map((f) => ({ id: f.id, ...(f.properties ?? {}) }));
    }
  }
  return [];
}

export function mountCrew(root: HTMLElement, me: Me, hooks: ViewHooks): () => void {
  const position = h('p', { id: 'crew-position', role: 'status' }, t('crew.locating'));
  const jobs = h('div', { id: 'crew-jobs', 'aria-live': 'polite' }, h('p', { className: 'muted' }, t('crew.jobsLoading')));
  const mapEl = h('div', { id: 'crew-map', className: 'crew-map', role: 'region', 'aria-label': t('map.label') });
  root.replaceChildren(
    h(
      'div',
      { className: 'crew' },
      h('header', { className: 'topbar crew-top' }, h('h1', { className: 'brand' }, t('crew.title')), languageSwitch(hooks.rerender), userBox(me, hooks.signedOut)),
      h(
        'main',
        { id: 'main', className: 'crew-main' },
        h('section', { 'aria-labelledby': 'crew-position-title' }, h('h2', { id: 'crew-position-title' }, t('crew.position')), position, mapEl),
        h('section', { 'aria-labelledby': 'crew-jobs-title' }, h('h2', { id: 'crew-jobs-title' }, t('crew.jobs')), jobs),
      ),
    ),
  );

  const core = new MapCore({ container: mapEl, lang: getLang(), t, role: me.role, overlays });
  let marker: maplibregl.Marker | null = null;
  let watch: number | null = null;
  let centred = false;
  void territoryBounds().then((bounds) => {
    if (bounds && !centred) core.map.fitBounds(bounds, { padding: 16, duration: 0 });
  });
  if (!('geolocation' in navigator)) {
    position.textContent = t('crew.geoUnavailable');
  } else {
    watch = navigator.geolocation.watchPosition(
      (pos) => {
        const { latitude: lat, longitude: lon, accuracy } = pos.coords;
        position.textContent = t('crew.positionValue', {
          lat: formatNumber(lat, 5),
          lon: formatNumber(lon, 5),
          accuracy: formatNumber(accuracy, 0),
        });
        position.dataset.located = 'true';
        marker ??= new maplibregl.Marker({ color: '#0a58a8' }).setLngLat([lon, lat]).addTo(core.map);
        marker.setLngLat([lon, lat]);
        if (!centred) core.map.jumpTo({ center: [lon, lat], zoom: 16 });
        centred = true;
      },
      (error) => {
        position.textContent = error.code === error.PERMISSION_DENIED ? t('crew.geoDenied') : t('crew.geoUnavailable');
        position.dataset.located = 'false';
      },
      { enableHighAccuracy: true, maximumAge: 10_000, timeout: 20_000 },
    );
  }

  // The next leg (position or depot → first job) and the jobs' places, drawn by deck.gl on the small map.
  let leg: LonLat[] | null = null;
  let places: { at: LonLat; first: boolean }[] = [];
  const unregister = overlays.register({
    id: CREW_OVERLAY,
    order: 300,
    layers: () => [
      ...(leg
        ? [
            new PathLayer({
              id: `${CREW_OVERLAY}-casing`,
              data: [{ path: leg }],
              getPath: (d: { path: LonLat[] }) => d.path,
              getColor: [255, 255, 255, 230],
              widthUnits: 'pixels',
              getWidth: 9,
              capRounded: true,
              jointRounded: true,
            }),
            new PathLayer({
              id: `${CREW_OVERLAY}-leg`,
              data: [{ path: leg }],
              getPath: (d: { path: LonLat[] }) => d.path,
              getColor: hexToRgba('#0a58a8'),
              widthUnits: 'pixels',
              getWidth: 5,
              capRounded: true,
              jointRounded: true,
            }),
          ]
        : []),
      new ScatterplotLayer({
        id: `${CREW_OVERLAY}-jobs`,
        data: places,
        getPosition: (p: { at: LonLat }) => p.at,
        getFillColor: (p: { first: boolean }) => (p.first ? hexToRgba('#b3261e') : hexToRgba('#ffffff')),
        getLineColor: hexToRgba('#b3261e'),
        stroked: true,
        lineWidthUnits: 'pixels',
        getLineWidth: 3,
        radiusUnits: 'pixels',
        getRadius: 8,
      }),
    ],
  });
  let destroyed = false;

  const showFailure = (error: unknown) => {
    clear(jobs);
    jobs.appendChild(h('p', { className: 'error', role: 'alert' }, t('crew.jobsFailed', { detail: (error as Error).message })));
  };

  async function setStatus(job: MyJob, status: 'started' | 'done', button: HTMLButtonElement): Promise<void> {
    button.disabled = true;
    try {
      await api(`/api/dispatch/my-jobs/${encodeURIComponent(String(job.id))}/status`, { method: 'POST', body: { status } });
      actionMessage = t(status === 'started' ? 'crew.startedMessage' : 'crew.doneMessage', { title: jobTitle(job, t('crew.job', { id: job.id })) });
    } catch (error) {
      actionMessage = t('error.generic', { detail: (error as Error).message });
    }
    await loadJobs();
    document.getElementById('crew-action')?.focus();
  }

  let actionMessage = '';
  async function loadJobs(): Promise<void> {
    let body: unknown = null;
    try {
      const response = await request('/api/dispatch/my-jobs');
      if (response.ok) body = await response.json();
      // 404: no crew is linked to this account yet (or no dispatch at all): the empty state.
      else if (response.status !== 404) throw new Error(String(response.status));
    } catch (error) {
      if (!destroyed) showFailure(error);
      return;
    }
    if (destroyed) return;
    const list = orderedJobs(body).length ? orderedJobs(body) : (jobsFrom(body) as MyJob[]);
    leg = legLine(body);
    places = list.filter((j) => j.location).map((j, i) => ({ at: [j.location!.lon, j.location!.lat] as LonLat, first: i === 0 }));
    mapEl.dataset.nextLeg = leg ? ((body as MyJobs).next_leg?.properties.geometry_kind ?? 'road') : 'none';
    mapEl.dataset.legPoints = String(leg?.length ?? 0);
    overlays.invalidate(CREW_OVERLAY);
    const frame = leg ?? places.map((p) => p.at);
    if (frame.length) {
      const lons = frame.map((c) => c[0]);
      const lats = frame.map((c) => c[1]);
      core.map.fitBounds([Math.min(...lons), Math.min(...lats), Math.max(...lons), Math.max(...lats)], { padding: 40, maxZoom: 17, duration: 0 });
      centred = true;
    }
    clear(jobs);
    const message = h('p', { id: 'crew-action', className: 'message', role: 'status', tabindex: -1 }, actionMessage);
    jobs.appendChild(message);
    if (!list.length) {
      jobs.appendChild(h('p', { className: 'empty', id: 'crew-jobs-empty' }, t('crew.jobsEmpty')));
      return;
    }
    const action = nextAction(list[0]);
    jobs.appendChild(
      h(
        'ol',
        { className: 'jobs' },
        list.map((job, index) => {
          const title = jobTitle(job, t('crew.job', { id: job.id }));
          const statusName = statusKey(job.status);
          const button =
            index === 0 && action
              ? h(
                  'button',
                  {
                    type: 'button',
                    id: action === 'started' ? 'job-start' : 'job-done',
                    className: 'button',
                    'aria-label': t(action === 'started' ? 'crew.startNamed' : 'crew.doneNamed', { title }),
                  },
                  t(action === 'started' ? 'crew.start' : 'crew.done'),
                )
              : null;
          button?.addEventListener('click', () => void setStatus(job, action!, button));
          return h(
            'li',
            { 'data-job': String(job.id), 'data-status': job.status ?? '', className: index === 0 ? 'current' : '' },
            h('strong', {}, title),
            job.eta ? h('span', {}, t('crew.eta', { time: formatClock(job.eta, getLang()) })) : null,
            job.window_end ? h('span', { className: 'muted' }, t('crew.window', { start: formatClock(job.window_start, getLang()), end: formatClock(job.window_end, getLang()) })) : null,
            job.priority !== undefined && job.priority >= 5 ? h('span', { className: 'urgent' }, t('dispatch.urgent')) : null,
            statusName ? h('span', { className: 'muted' }, t('crew.status', { status: t(statusName) })) : null,
            button,
          );
        }),
      ),
    );
  }
  void loadJobs();

  return () => {
    destroyed = true;
    if (watch !== null) navigator.geolocation.clearWatch(watch);
    unregister();
    core.destroy();
  };
}

// The crew view (mobile width): own position and the jobs assigned to the signed-in crew.
// Jobs come from GET /api/dispatch/my-jobs (the dispatch issue); until that route exists, an empty state.
import * as maplibregl from 'maplibre-gl';
import { request, type Me } from '../core/api';
import { languageSwitch, userBox } from '../core/chrome';
import { clear, h } from '../core/dom';
import { formatNumber, getLang, t } from '../i18n';
import { MapCore } from '../console/mapcore';
import { overlays } from '../overlays/registry';
import { territoryBounds, type ViewHooks } from '../console/view';

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

  void (async () => {
    let list: Job[] = [];
    try {
      const response = await request('/api/dispatch/my-jobs');
      if (response.ok) list = jobsFrom(await response.json());
      else if (response.status !== 404) throw new Error(String(response.status));
    } catch (error) {
      clear(jobs);
      jobs.appendChild(h('p', { className: 'error' }, t('crew.jobsFailed', { detail: (error as Error).message })));
      return;
    }
    clear(jobs);
    if (!list.length) {
      jobs.appendChild(h('p', { className: 'empty', id: 'crew-jobs-empty' }, t('crew.jobsEmpty')));
      return;
    }
    jobs.appendChild(
      h(
        'ol',
        { className: 'jobs' },
        list.map((job) =>
          h(
            'li',
            { 'data-job': String(job.id) },
            h('strong', {}, job.title ?? job.label ?? t('crew.job', { id: job.id })),
            job.address ? h('span', {}, job.address) : null,
            job.status ? h('span', { className: 'muted' }, t('crew.status', { status: job.status })) : null,
          ),
        ),
      ),
    );
  })();

  return () => {
    if (watch !== null) navigator.geolocation.clearWatch(watch);
    core.destroy();
  };
}

// The operator console: header (search, 2D/3D, live state, user), side panels, the map, the feature card
// and the coordinates bar. Returns its teardown.
import { ScatterplotLayer } from '@deck.gl/layers';
import { api, type Me } from '../core/api';
import { languageSwitch, userBox } from '../core/chrome';
import { h } from '../core/dom';
import { getLang, t } from '../i18n';
import { eventsUrl, LiveConnection, type LiveState } from '../live/connection';
import { overlays } from '../overlays/registry';
import { PanelHost } from '../panels/host';
import { panels } from '../panels/registry';
import { registerBuiltinPanels } from './builtin-panels';
import { FeatureCard } from './card';
import { formatLambert93, formatWgs84 } from './coords';
import { MapCore, SOURCE, type ViewMode } from './mapcore';
import { fetchCollections, type Collection } from './ogc';
import { SearchBox } from './search';
import { registerSelectionOverlay } from './selection';
import { currentTerritory } from './territory';
import { mapPicker } from './mappick';
// Features: one import each (the module registers its panel, and its overlay when the panel mounts).
import '../routing/panel';
import '../routing/closures-panel';
import '../dispatch/panel';
import '../incidents/panel';
import '../incidents/log-panel';
import '../sensing/panel';

export interface ViewHooks {
  navigate(path: string): void;
  rerender(): void;
  signedOut(): void;
  sessionLost(): void;
}

/** The territory to show: `?territoire=<name or id>`, else the first one the server lists. */
export async function territoryBounds(): Promise<[number, number, number, number] | null> {
  return (await currentTerritory())?.bbox ?? null;
}

export async function mountConsole(root: HTMLElement, me: Me, hooks: ViewHooks): Promise<() => void> {
  const lang = getLang();
  const mapEl = h('div', { id: 'map', className: 'map', role: 'region', 'aria-label': t('map.label') });
  const liveDot = h('span', { className: 'live-dot', 'aria-hidden': 'true' });
  const liveText = h('span', {}, t('live.connecting'));
  const live = h('span', { id: 'live-state', className: 'live', role: 'status', 'data-state': 'connecting', title: t('live.label') }, liveDot, liveText);
  const wgs = h('span', { id: 'coords-wgs84' }, t('map.coordsNone'));
  const l93 = h('span', { id: 'coords-l93' }, '');
  const zoom = h('span', { id: 'zoom-level' }, '');
  const modeButtons: Record<ViewMode, HTMLButtonElement> = {
    '2d': h('button', { type: 'button', id: 'mode-2d', className: 'toggle', 'aria-pressed': 'true' }, t('map.mode2d')),
    '3d': h('button', { type: 'button', id: 'mode-3d', className: 'toggle', 'aria-pressed': 'false' }, t('map.mode3d')),
  };
  const main = h('main', { id: 'main', className: 'console-main', tabindex: -1 }, mapEl);
  const footer = h(
    'footer',
    { className: 'statusbar', 'aria-label': t('map.coordinates') },
    h('span', {}, h('abbr', {}, t('map.wgs84')), ' ', wgs),
    h('span', {}, h('abbr', {}, t('map.lambert93')), ' ', l93),
    zoom,
  );

  const [bounds, catalog] = await Promise.all([territoryBounds(), fetchCollections().catch(() => [])]);
  // The map's container must be in the document (and sized) before MapLibre measures it.
  const sideSlot = h('div', { className: 'side-slot' });
  root.replaceChildren(h('div', { className: 'console' }, h('div', { className: 'header-slot' }), h('div', { className: 'console-body' }, sideSlot, main), footer));
  const core = new MapCore({ container: mapEl, lang, t, role: me.role, overlays, bounds });
  const showSelection = registerSelectionOverlay(overlays);
  const collections: Collection[] = catalog;
  const titleOf = (id: string) => collections.find((c) => c.id === id)?.title ?? id;
  const card = new FeatureCard(t, showSelection);
  const openFeature = (collection: string, id: string | number) =>
    void card.open({ collection, collectionTitle: titleOf(collection), id });
  const search = new SearchBox(
    t,
    () => new Set(collections.map((c) => c.id)),
    (result) => {
      if (result.bbox) core.map.fitBounds(result.bbox, { padding: 80, maxZoom: 17.5, duration: 800 });
      openFeature(result.collection, result.id);
    },
  );

  const header = h(
    'header',
    { className: 'topbar' },
    h('a', { className: 'skip', href: '#main' }, t('app.skip')),
    h('h1', { className: 'brand' }, t('app.title'), h('small', {}, t('app.subtitle'))),
    search.element,
    h('div', { className: 'mode', role: 'group', 'aria-label': t('map.modeLabel') }, modeButtons['2d'], modeButtons['3d']),
    live,
    languageSwitch(hooks.rerender),
    userBox(me, hooks.signedOut),
  );
  const host = new PanelHost(panels, me.role, t, { map: core.map, me, t, overlays, openFeature });
  root.querySelector('.header-slot')?.replaceWith(header);
  sideSlot.replaceWith(host.element);
  main.after(card.element);

  registerBuiltinPanels(panels, { core, collections: () => collections });
  const setMode = (mode: ViewMode) => {
    core.setMode(mode);
    for (const [m, button] of Object.entries(modeButtons)) button.setAttribute('aria-pressed', String(m === mode));
  };
  modeButtons['2d'].addEventListener('click', () => setMode('2d'));
  modeButtons['3d'].addEventListener('click', () => setMode('3d'));

  core.map.on('mousemove', (e) => {
    wgs.textContent = formatWgs84(e.lngLat.lng, e.lngLat.lat, lang);
    l93.textContent = formatLambert93(e.lngLat.lng, e.lngLat.lat, lang);
  });
  const showZoom = () => (zoom.textContent = t('map.zoom', { zoom: core.map.getZoom().toFixed(1) }));
  core.map.on('zoomend', showZoom);
  const detachPicker = mapPicker.attach(core.map);
  core.map.on('click', (e) => {
    // A panel picking on the map (a route's start, a street to close) takes the click instead of the card.
    if (mapPicker.handleClick(e.lngLat, e.point)) return;
    const hit = core.map.queryRenderedFeatures(e.point).find((f) => f.source === SOURCE && f.sourceLayer && f.id !== undefined);
    if (hit?.sourceLayer) openFeature(hit.sourceLayer, hit.id as string | number);
  });

  const setLive = (state: LiveState, retryInMs?: number) => {
    live.dataset.state = state;
    liveText.textContent =
      state === 'reconnecting' && retryInMs !== undefined
        ? t('live.reconnecting', { seconds: Math.ceil(retryInMs / 1000) })
        : t(`live.${state === 'reconnecting' ? 'connecting' : state}`);
  };
  const connection = new LiveConnection(eventsUrl(location), {
    onState: setLive,
    onTilesChanged: (layer, bbox, catalog) => {
      if (catalog) {
        core.refresh(null);
        return;
      }
      if (core.legend().some((e) => e['source-layer'] === layer)) core.refresh(bbox);
    },
    onResync: () => core.refresh(null),
    onHello: (role) => {
      // A cookie that expired meanwhile makes the socket anonymous: the session is gone.
      if (role !== me.role) hooks.sessionLost();
    },
  });

  // The session may end while the page is open (expiry, revocation): ask the server every minute.
  const checkSession = () => void api('/api/auth/me').catch(() => undefined);
  const sessionCheck = setInterval(checkSession, 60_000);
  window.addEventListener('focus', checkSession);

  // Test and benchmark hook (what devtools could reach anyway): the map, the registries, one deck layer class.
  const debug = { core, map: core.map, overlays, panels, card, live: () => live.dataset.state, deckLayers: { ScatterplotLayer } };
  (window as unknown as { hyperviseur: typeof debug }).hyperviseur = debug;

  await core.ready;
  showZoom();
  host.select('layers');
  connection.start();
  mapEl.dataset.ready = 'true';

  return () => {
    clearInterval(sessionCheck);
    window.removeEventListener('focus', checkSession);
    connection.stop();
    detachPicker();
    host.destroy();
    for (const id of ['layers', 'legend', 'accounts']) panels.unregister(id);
    overlays.unregister('selection');
    core.destroy();
  };
}

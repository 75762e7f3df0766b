// The sensors panel (every signed-in role: group SENSING; the server leaves out the kinds a role may not
// see): sensors grouped by kind with their latest value, a status dot (reporting, late, silent, never
// heard) and a marker when a detection is open; a kind filter; a detail with the last 24 hours as a chart
// with the kind's thresholds, the latest value updated live and the open detections explained. Values
// arrive live from the stream's `sensors` messages and are updated in place.
import type { Map as MapLibreMap } from 'maplibre-gl';
import { api } from '../core/api';
import { clear, h } from '../core/dom';
import { getLang, type MessageKey, type Translate } from '../i18n';
import { currentTerritory } from '../console/territory';
import { explanation, severityColour } from '../incidents/model';
import { errorText, liveBadge } from '../incidents/ui';
import { acquireStream, type SensorValue } from '../live/stream';
import type { OverlayRegistry } from '../overlays/registry';
import { panels } from '../panels/registry';
import { formatClock } from '../routing/format';
import { chartGeometry, renderChart } from './chart';
import { formatValue, groupByKind, kindTitle, lastDay, statusColour, type Sensor, type Series, type SeriesPoint, type Threshold } from './model';
import { registerSensorsOverlay } from './overlay';
import { SensorStore } from './store';
import './sensing.css';

export const SENSORS_PANEL = 'sensors';

const openRequests = new Set<(id: number) => void>();

panels.register({
  id: SENSORS_PANEL,
  title: 'panel.sensors',
  order: 106,
  mount(container, { t, overlays, map }) {
    return mountSensors(container, t, overlays, map);
  },
});

/** Show the sensors panel and one sensor's detail (a click on its circle). */
export function openSensor(id: number): void {
  document.querySelector<HTMLElement>(`[role=tab][data-panel=${SENSORS_PANEL}]`)?.click();
  for (const open of openRequests) open(id);
}

interface SensorDetail extends Sensor {
  thresholds?: Threshold[];
}

function mountSensors(container: HTMLElement, t: Translate, overlays: OverlayRegistry, map: MapLibreMap): () => void {
  const lang = getLang();
  let store: SensorStore | null = null;
  let destroyed = false;
  let release: (() => void) | null = null;
  let onlyKind = 'all';
  let selected: number | null = null;
  let series: Series | null = null;
  let thresholds: Threshold[] = [];
  const cleanups: (() => void)[] = [];

  const drawn = registerSensorsOverlay(overlays, map, () => store, (id) => openSensor(id));
  cleanups.push(drawn.unregister);

  const kindFilter = h('select', { id: 'sensors-filter-kind', onchange: () => ((onlyKind = kindFilter.value), renderList()) });
  const live = liveBadge(t, 'sensors-live');
  const status = h('p', { id: 'sensors-status', className: 'muted', role: 'status', 'aria-live': 'polite' });
  const list = h('div', { id: 'sensors-list' });
  const listView = h(
    'div',
    { id: 'sensors-view' },
    live.element,
    h('div', { className: 'field' }, h('label', { for: 'sensors-filter-kind' }, t('sensors.filterKind')), kindFilter),
    legend(t),
    status,
    list,
  );
  const detailView = h('section', { id: 'sensor-detail', hidden: true });
  container.append(listView, detailView);

  function renderKinds(): void {
    if (!store) return;
    const present = new Set([...store.sensors.values()].map((s) => s.kind));
    const kinds = groupByKind([...store.sensors.values()], store.kinds, lang).filter((g) => present.has(g.kind));
    clear(kindFilter);
    kindFilter.appendChild(h('option', { value: 'all' }, t('sensors.allKinds')));
    for (const group of kinds) kindFilter.appendChild(h('option', { value: group.kind }, `${group.title} (${group.sensors.length})`));
    if (!present.has(onlyKind)) onlyKind = 'all';
    kindFilter.value = onlyKind;
  }

  function renderList(): void {
    if (!store) return;
    clear(list);
    if (!store.loaded) return;
    const groups = groupByKind([...store.sensors.values()], store.kinds, lang, onlyKind);
    list.dataset.count = String(groups.reduce((n, g) => n + g.sensors.length, 0));
    if (!groups.length) list.appendChild(h('p', { id: 'sensors-empty', className: 'muted' }, t('sensors.none')));
    for (const group of groups) {
      list.appendChild(
        h(
          'section',
          { className: 'sensor-group', 'data-kind': group.kind },
          h('h3', {}, group.title),
          h('ul', { className: 'sensors' }, group.sensors.map((s) => sensorItem(s))),
        ),
      );
    }
  }

  function sensorItem(sensor: Sensor): HTMLElement {
    const item = h('li', { 'data-sensor': String(sensor.id) });
    fillItem(item, sensor);
    return item;
  }

  function fillItem(item: HTMLElement, sensor: Sensor): void {
    const alarms = store?.openCount(sensor.id) ?? 0;
    item.dataset.status = sensor.status;
    item.dataset.detections = String(alarms);
    clear(item);
    const dot = h('span', { className: 'status-dot', title: t(`sensors.status.${sensor.status}` as MessageKey) });
    dot.style.backgroundColor = statusColour(sensor.status);
    item.appendChild(
      h(
        'button',
        { type: 'button', className: 'sensor-open', onclick: () => void select(sensor.id) },
        dot,
        h('span', { className: 'visually-hidden' }, t(`sensors.status.${sensor.status}` as MessageKey)),
        h('span', { className: 'sensor-name' }, sensor.name),
        alarms ? h('span', { className: 'sensor-alarm', title: t('sensors.openDetections', { count: alarms }) }, '▲', h('span', { className: 'visually-hidden' }, t('sensors.openDetections', { count: alarms }))) : null,
        h(
          'span',
          { className: 'sensor-value', 'data-value': sensor.latest ? String(sensor.latest.value) : null, title: sensor.latest ? formatClock(sensor.latest.observed_at, lang) : t('sensors.status.never') },
          formatValue(sensor.latest?.value, sensor.unit, lang),
        ),
      ),
    );
  }

  function updateInPlace(ids: number[]): void {
    for (const id of ids) {
      const sensor = store?.sensors.get(id);
      const item = list.querySelector<HTMLElement>(`li[data-sensor="${id}"]`);
      if (sensor && item) {
        fillItem(item, sensor);
        item.classList.remove('updated');
        void item.offsetWidth; // restart the highlight animation
        item.classList.add('updated');
      }
    }
  }

  // ---- detail
  async function select(id: number): Promise<void> {
    const sensor = store?.sensors.get(id);
    selected = id;
    series = null;
    thresholds = [];
    listView.hidden = true;
    detailView.hidden = false;
    detailView.dataset.sensor = String(id);
    if (sensor) map.flyTo({ center: [sensor.lon, sensor.lat], zoom: Math.max(map.getZoom(), 16), duration: 800 });
    renderDetail();
    const { from, to } = lastDay(Date.now());
    try {
      const [info, loaded] = await Promise.all([
        api<SensorDetail>(`/api/sensing/sensors/${id}`),
        api<Series>(`/api/sensing/sensors/${id}/readings?${new URLSearchParams({ from, to, step: 'auto' })}`),
      ]);
      if (destroyed || selected !== id) return;
      thresholds = info.thresholds ?? [];
      series = loaded;
      renderDetail();
    } catch (error) {
      if (selected !== id) return;
      detailView.querySelector('#sensor-chart')?.replaceChildren(h('p', { className: 'error' }, errorText(t, error)));
    }
  }

  function closeDetail(): void {
    selected = null;
    detailView.hidden = true;
    listView.hidden = false;
    delete detailView.dataset.sensor;
    renderList();
  }

  function renderDetail(): void {
    const sensor = selected === null ? undefined : store?.sensors.get(selected);
    clear(detailView);
    detailView.append(h('button', { type: 'button', id: 'sensor-back', className: 'button secondary', onclick: () => closeDetail() }, t('sensors.back')));
    if (!sensor) return;
    const kind = store?.kinds.find((k) => k.kind === sensor.kind);
    const dot = h('span', { className: 'status-dot' });
    dot.style.backgroundColor = statusColour(sensor.status);
    const latest = h(
      'p',
      { id: 'sensor-latest', className: 'sensor-latest', 'data-value': sensor.latest ? String(sensor.latest.value) : null },
      h('strong', {}, formatValue(sensor.latest?.value, sensor.unit, lang)),
      ' ',
      h('span', { className: 'muted' }, sensor.latest ? t('sensors.at', { time: formatClock(sensor.latest.observed_at, lang) }) : t('sensors.status.never')),
    );
    const chart = h('div', { id: 'sensor-chart', className: 'sensor-chart' });
    if (series) {
      const nowMs = Date.now();
      const { from } = lastDay(nowMs);
      const geometry = chartGeometry(
        series.points,
        thresholds.map((th) => ({ value: th.value, severity: th.severity, label: lang === 'en' ? th.label_en : th.label_fr })),
        Date.parse(from),
        nowMs,
        series.step_s ?? 60,
        undefined,
        kind?.expected_interval_s ?? 0,
      );
      chart.dataset.points = String(series.points.length);
      chart.dataset.thresholds = String(thresholds.length);
      chart.appendChild(renderChart(geometry, lang, t('sensors.chartLabel', { name: sensor.name })));
      if (!series.points.length) chart.appendChild(h('p', { className: 'muted small' }, t('sensors.noData')));
      if (thresholds.length) {
        chart.appendChild(
          h(
            'ul',
            { className: 'thresholds small' },
            thresholds.map((th) => {
              const swatch = h('span', { className: 'severity-dot', 'aria-hidden': 'true' });
              swatch.style.backgroundColor = severityColour(th.severity).background;
              return h('li', {}, swatch, `${lang === 'en' ? th.label_en : th.label_fr} : ${formatValue(th.value, sensor.unit, lang)}`);
            }),
          ),
        );
      }
    } else {
      chart.appendChild(h('p', { className: 'muted' }, t('app.loading')));
    }
    const detections = store?.openDetections(sensor.id) ?? [];
    detailView.append(
      h('h3', {}, dot, ' ', sensor.name),
      h('p', { className: 'muted' }, `${kindTitle(kind, sensor.kind, lang)} · ${t(`sensors.status.${sensor.status}` as MessageKey)}`),
      latest,
      h('h4', {}, t('sensors.last24h')),
      chart,
      h('h4', {}, t('sensors.detections')),
      h(
        'ul',
        { id: 'sensor-detections', className: 'detections' },
        detections.length
          ? detections.map((d) => h('li', { 'data-detection': String(d.id) }, h('span', { className: 'detection-explanation' }, explanation(d, lang)), h('span', { className: 'muted small' }, formatClock(d.started_at, lang))))
          : h('li', { className: 'muted' }, t('sensors.noDetections')),
      ),
    );
  }

  function onValues(readings: SensorValue[]): void {
    if (!store) return;
    const changed = store.applyValues(readings);
    if (selected !== null && series) {
      const mine = readings.filter((r) => r[0] === selected);
      for (const [, epochMs, value] of mine) {
        const points = series.points;
        if (!points.length || epochMs > points[points.length - 1][0]) points.push([epochMs, value, value, value, 1] as SeriesPoint);
      }
    }
    if (selected !== null && changed.includes(selected)) renderDetail();
  }

  async function reload(): Promise<void> {
    if (!store) return;
    try {
      await store.load();
      status.textContent = '';
    } catch (error) {
      status.textContent = errorText(t, error);
    }
  }

  const open = (id: number) => void select(id);
  openRequests.add(open);
  cleanups.push(() => openRequests.delete(open));

  void (async () => {
    const found = await currentTerritory();
    if (destroyed) return;
    if (!found) {
      status.textContent = t('incidents.noTerritory');
      return;
    }
    store = new SensorStore(found.id);
    cleanups.push(
      store.onChange((changed) => {
        if (changed === null) {
          renderKinds();
          if (!listView.hidden) renderList();
          else renderDetail();
        } else {
          updateInPlace(changed);
        }
        drawn.redraw();
      }),
    );
    // The stream says when to load (once ready, so that no value falls between the answer and the stream).
    release = acquireStream(found.id, {
      onSensors: onValues,
      onEvent: (event) => {
        if (store?.applyEvent(event) && selected !== null) renderDetail();
      },
      onResync: () => void reload(),
      onState: (s) => live.set(s),
    });
  })();

  return () => {
    destroyed = true;
    release?.();
    for (const cleanup of cleanups) cleanup();
  };
}

function legend(t: Translate): HTMLElement {
  return h(
    'ul',
    { className: 'status-legend small', 'aria-label': t('sensors.legend') },
    (['ok', 'late', 'silent', 'never'] as const).map((s) => {
      const dot = h('span', { className: 'status-dot', 'aria-hidden': 'true' });
      dot.style.backgroundColor = statusColour(s);
      return h('li', {}, dot, t(`sensors.status.${s}` as MessageKey));
    }),
  );
}

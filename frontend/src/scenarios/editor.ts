// The scenario editor: the events and measures of one scenario, each removable, and a form per kind to add
// one — streets picked on the map (the closures panel's pick), a polygon drawn corner by corner, a point
// picked, a pipe picked from the water layer or typed. Every change goes through `save` (a PATCH with the
// version read; the panel handles a 409). Read-only roles see the lists only.
import type { MapGeoJSONFeature } from 'maplibre-gl';
import { api } from '../core/api';
import { clear, h } from '../core/dom';
import { getLang, type MessageKey, type Translate } from '../i18n';
import { SOURCE } from '../console/mapcore';
import { mapPicker, type Pick } from '../console/mappick';
import { fetchFeature } from '../console/ogc';
import { streetUnder } from '../routing/closures-panel';
import type { LonLat } from '../routing/format';
import {
  buildEvent,
  buildMeasure,
  describe,
  EVENT_TYPES,
  MEASURE_TYPES,
  type Built,
  type EventDraft,
  type EventType,
  type Measure,
  type MeasureDraft,
  type MeasureType,
  type Scenario,
  type ScenarioEvent,
} from './model';
import type { ScenarioOverlay } from './overlay';

const OWNER = 'scenario-edit';

export interface EditorOptions {
  t: Translate;
  overlay: ScenarioOverlay;
  editable: boolean;
  territory: string;
  /** Store the new lists (PATCH with the scenario's version); resolves false when refused. */
  save(events: ScenarioEvent[], measures: Measure[]): Promise<boolean>;
}

function linesOf(geometry: GeoJSON.Geometry | null | undefined): LonLat[][] {
  if (!geometry) return [];
  if (geometry.type === 'LineString') return [geometry.coordinates as LonLat[]];
  if (geometry.type === 'MultiLineString') return geometry.coordinates as LonLat[][];
  return [];
}

/** The name of the water pipe under a click (tiles' `name`, else the stored feature's). */
async function pipeUnder(pick: Pick, layer: 'water_pipes' | 'water_valves' | 'water_pumps'): Promise<string | null> {
  const { x, y } = pick.point;
  const hit = pick.map
    .queryRenderedFeatures([
      [x - 8, y - 8],
      [x + 8, y + 8],
    ])
    .find((f: MapGeoJSONFeature) => f.source === SOURCE && f.sourceLayer === layer && f.id !== undefined);
  if (!hit) return null;
  const name = hit.properties?.name;
  if (typeof name === 'string' && name) return name;
  const feature = await fetchFeature(layer, hit.id as number).catch(() => null);
  const stored = feature?.properties?.name;
  return typeof stored === 'string' && stored ? stored : null;
}

export class ScenarioEditor {
  readonly element: HTMLElement;
  private scenario: Scenario | null = null;
  private readonly events = h('ol', { id: 'scenario-events', className: 'scenario-items' });
  private readonly measures = h('ol', { id: 'scenario-measures', className: 'scenario-items' });
  private readonly form = h('form', { id: 'scenario-item-form', className: 'scenario-form', hidden: true, novalidate: true });
  private readonly message = h('p', { id: 'scenario-item-status', className: 'muted small', role: 'status', 'aria-live': 'polite' });
  private readonly edgeLines = new Map<number, LonLat[][]>();
  private crews: { id: number; name: string }[] | null = null;

  constructor(private readonly o: EditorOptions) {
    const { t } = o;
    const addEvents = o.editable
      ? h(
          'div',
          { className: 'row scenario-add', role: 'group', 'aria-label': t('scenarios.addEvent') },
          EVENT_TYPES.map((type) =>
            h('button', { type: 'button', id: `scenario-add-${type}`, className: 'button secondary small', onclick: () => this.openEvent(type) }, t(`scenarios.event.${type}` as MessageKey)),
          ),
        )
      : null;
    const addMeasures = o.editable
      ? h(
          'div',
          { className: 'row scenario-add', role: 'group', 'aria-label': t('scenarios.addMeasure') },
          MEASURE_TYPES.map((type) =>
            h('button', { type: 'button', id: `scenario-add-${type}`, className: 'button secondary small', onclick: () => this.openMeasure(type) }, t(`scenarios.measure.${type}` as MessageKey)),
          ),
        )
      : null;
    this.element = h(
      'div',
      { className: 'scenario-editor' },
      h('h4', {}, t('scenarios.events')),
      this.events,
      addEvents,
      h('h4', {}, t('scenarios.measures')),
      this.measures,
      addMeasures,
      this.form,
      this.message,
    );
  }

  show(scenario: Scenario): void {
    this.scenario = scenario;
    this.renderLists();
  }

  destroy(): void {
    this.closeForm();
  }

  private renderLists(): void {
    const s = this.scenario;
    if (!s) return;
    const { t } = this.o;
    const lang = getLang();
    const item = (kind: 'event' | 'measure', index: number, type: string, text: string) =>
      h(
        'li',
        { 'data-index': String(index), 'data-type': type },
        h('strong', {}, t(`scenarios.${kind}.${type}` as MessageKey)),
        ' ',
        h('span', { className: 'muted' }, text),
        this.o.editable
          ? h(
              'button',
              {
                type: 'button',
                className: 'link-button',
                id: `scenario-remove-${kind}-${index}`,
                'aria-label': t('scenarios.removeNamed', { what: t(`scenarios.${kind}.${type}` as MessageKey) }),
                onclick: () => void this.remove(kind, index),
              },
              t('scenarios.remove'),
            )
          : null,
      );
    clear(this.events);
    clear(this.measures);
    s.events.forEach((e, i) => this.events.appendChild(item('event', i, e.type, describe(e, lang))));
    s.measures.forEach((m, i) => this.measures.appendChild(item('measure', i, m.type, describe(m, lang))));
    if (!s.events.length) this.events.appendChild(h('li', { className: 'muted' }, t('scenarios.noEvents')));
    if (!s.measures.length) this.measures.appendChild(h('li', { className: 'muted' }, t('scenarios.noMeasures')));
  }

  private async remove(kind: 'event' | 'measure', index: number): Promise<void> {
    const s = this.scenario;
    if (!s) return;
    const events = kind === 'event' ? s.events.filter((_, i) => i !== index) : s.events;
    const measures = kind === 'measure' ? s.measures.filter((_, i) => i !== index) : s.measures;
    await this.o.save(events, measures);
  }

  private closeForm(): void {
    if (mapPicker.owner() === OWNER) mapPicker.cancel();
    clear(this.form);
    this.form.hidden = true;
    this.o.overlay.setDraft({});
  }

  /** The form's frame: title, fields, at (minutes), submit/cancel; `build` reads the fields on submit. */
  private openForm(title: string, type: string, fields: HTMLElement[], build: (atMin: string) => Built<ScenarioEvent | Measure>, kind: 'event' | 'measure'): void {
    const { t } = this.o;
    this.closeForm();
    this.form.hidden = false;
    this.form.dataset.type = type;
    const at = h('input', { id: 'scenario-at-min', type: 'text', inputmode: 'decimal', value: '0', autocomplete: 'off' });
    const submit = h('button', { type: 'submit', id: 'scenario-item-submit', className: 'button' }, kind === 'event' ? t('scenarios.addThisEvent') : t('scenarios.addThisMeasure'));
    const cancel = h('button', { type: 'button', className: 'button secondary', onclick: () => this.closeForm() }, t('scenarios.cancel'));
    this.form.append(h('h4', {}, title), ...fields, field('scenario-at-min', t('scenarios.atMin'), at), h('div', { className: 'row' }, submit, cancel));
    this.message.textContent = '';
    this.form.onsubmit = async (e) => {
      e.preventDefault();
      const built = build(at.value);
      if (!built.ok) {
        this.message.className = 'error small';
        this.message.textContent = t(built.problem);
        return;
      }
      const s = this.scenario;
      if (!s) return;
      submit.disabled = true;
      this.message.className = 'muted small';
      const events = kind === 'event' ? [...s.events, built.value as ScenarioEvent] : s.events;
      const measures = kind === 'measure' ? [...s.measures, built.value as Measure] : s.measures;
      const saved = await this.o.save(events, measures);
      submit.disabled = false;
      if (saved) this.closeForm();
    };
    (this.form.querySelector('input:not([type=checkbox]), select') as HTMLElement | null)?.focus();
  }

  // ---- picking helpers (each returns the button and reads back what was picked)

  private streetsPicker(onChange: (ids: number[]) => void): { element: HTMLElement; ids: () => number[] } {
    const { t } = this.o;
    let ids: number[] = [];
    const shown = h('span', { id: 'scenario-streets-count', className: 'muted small', 'data-count': '0' }, t('scenarios.streetsNone'));
    const button = h('button', { type: 'button', id: 'scenario-pick-streets', className: 'button secondary', 'aria-pressed': 'false' }, t('scenarios.pickStreets'));
    const draw = () => {
      this.o.overlay.setDraft({ lines: ids.flatMap((id) => this.edgeLines.get(id) ?? []) });
      shown.dataset.count = String(ids.length);
      shown.textContent = ids.length ? t('scenarios.streetsPicked', { count: ids.length }) : t('scenarios.streetsNone');
      onChange(ids);
    };
    button.addEventListener('click', () => {
      if (mapPicker.owner() === OWNER) return mapPicker.cancel();
      this.message.textContent = t('scenarios.pickStreetsHint');
      button.setAttribute('aria-pressed', 'true');
      mapPicker.start(
        OWNER,
        (pick) => {
          const street = streetUnder(pick);
          if (!street.ids.length) {
            this.message.textContent = t('scenarios.noStreet');
            return;
          }
          ids = [...new Set([...ids, ...street.ids])];
          this.message.textContent = street.name ?? '';
          draw();
          void Promise.all(
            street.ids
              .filter((id) => !this.edgeLines.has(id))
              .map(async (id) => this.edgeLines.set(id, linesOf((await fetchFeature('road_edges', id).catch(() => null))?.geometry))),
          ).then(draw);
        },
        () => button.setAttribute('aria-pressed', 'false'),
      );
    });
    return { element: h('div', { className: 'row' }, button, shown), ids: () => ids };
  }

  private areaPicker(): { element: HTMLElement; ring: () => LonLat[] } {
    const { t } = this.o;
    let ring: LonLat[] = [];
    const shown = h('span', { id: 'scenario-area-count', className: 'muted small', 'data-count': '0' }, t('scenarios.areaNone'));
    const button = h('button', { type: 'button', id: 'scenario-draw-area', className: 'button secondary', 'aria-pressed': 'false' }, t('scenarios.drawArea'));
    button.addEventListener('click', () => {
      if (mapPicker.owner() === OWNER) {
        // A second click ends the drawing; the corners stay for "Ajouter".
        mapPicker.release(OWNER);
        button.setAttribute('aria-pressed', 'false');
        return;
      }
      ring = [];
      this.message.textContent = t('scenarios.drawAreaHint');
      button.setAttribute('aria-pressed', 'true');
      mapPicker.start(
        OWNER,
        (pick) => {
          ring = [...ring, pick.lonLat];
          shown.dataset.count = String(ring.length);
          shown.textContent = t('scenarios.areaCorners', { count: ring.length });
          this.o.overlay.setDraft({ ring });
        },
        () => button.setAttribute('aria-pressed', 'false'),
      );
    });
    return { element: h('div', { className: 'row' }, button, shown), ring: () => ring };
  }

  private pointPicker(): { element: HTMLElement; point: () => LonLat | null } {
    const { t } = this.o;
    let point: LonLat | null = null;
    const shown = h('span', { id: 'scenario-point', className: 'muted small' }, t('scenarios.pointNone'));
    const button = h('button', { type: 'button', id: 'scenario-pick-point', className: 'button secondary', 'aria-pressed': 'false' }, t('scenarios.pickPoint'));
    button.addEventListener('click', () => {
      if (mapPicker.owner() === OWNER) return mapPicker.cancel();
      button.setAttribute('aria-pressed', 'true');
      this.message.textContent = t('scenarios.pickPointHint');
      mapPicker.start(
        OWNER,
        (pick) => {
          point = pick.lonLat;
          shown.textContent = `${point[1].toFixed(5)}, ${point[0].toFixed(5)}`;
          shown.dataset.lon = String(point[0]);
          shown.dataset.lat = String(point[1]);
          this.o.overlay.setDraft({ points: [point] });
          mapPicker.release(OWNER);
          button.setAttribute('aria-pressed', 'false');
          this.message.textContent = '';
        },
        () => button.setAttribute('aria-pressed', 'false'),
      );
    });
    return { element: h('div', { className: 'row' }, button, shown), point: () => point };
  }

  /** A name typed, or picked from a water layer of the map (roles that see it). */
  private namePicker(id: string, label: string, layer: 'water_pipes' | 'water_valves' | 'water_pumps'): { element: HTMLElement; input: HTMLInputElement } {
    const { t } = this.o;
    const input = h('input', { id, type: 'text', maxlength: 200, autocomplete: 'off' });
    const button = h('button', { type: 'button', id: `${id}-pick`, className: 'button secondary', 'aria-pressed': 'false' }, t('scenarios.pickOnMap'));
    button.addEventListener('click', () => {
      if (mapPicker.owner() === OWNER) return mapPicker.cancel();
      button.setAttribute('aria-pressed', 'true');
      this.message.textContent = t('scenarios.pickWaterHint');
      mapPicker.start(
        OWNER,
        (pick) =>
          void pipeUnder(pick, layer).then((name) => {
            if (!name) {
              this.message.textContent = t('scenarios.noWaterFeature');
              return;
            }
            input.value = name;
            this.message.textContent = '';
            mapPicker.release(OWNER);
            button.setAttribute('aria-pressed', 'false');
          }),
        () => button.setAttribute('aria-pressed', 'false'),
      );
    });
    return { element: h('div', { className: 'field' }, h('label', { for: id }, label), h('div', { className: 'row' }, input, button)), input };
  }

  // ---- the forms

  private openEvent(type: EventType): void {
    const { t } = this.o;
    const title = t(`scenarios.event.${type}` as MessageKey);
    const text = (id: string, value = '') => h('input', { id, type: 'text', autocomplete: 'off', value });
    const draft: EventDraft = { type };
    let fields: HTMLElement[] = [];
    let read: () => void = () => undefined;
    if (type === 'road_closure') {
      const reason = text('scenario-reason');
      const streets = this.streetsPicker(() => undefined);
      fields = [streets.element, field('scenario-reason', t('scenarios.reason'), reason)];
      read = () => Object.assign(draft, { edgeIds: streets.ids(), reason: reason.value });
    } else if (type === 'flood' || type === 'power_failure') {
      const area = this.areaPicker();
      const extra = type === 'flood' ? text('scenario-water-level', '0.5') : text('scenario-feeders');
      fields = [area.element, field(extra.id, t(type === 'flood' ? 'scenarios.waterLevel' : 'scenarios.feeders'), extra)];
      read = () => Object.assign(draft, { ring: area.ring(), waterLevelM: extra.value, feederIds: extra.value });
    } else if (type === 'pipe_burst') {
      const pipe = this.namePicker('scenario-pipe', t('scenarios.pipe'), 'water_pipes');
      fields = [pipe.element];
      read = () => Object.assign(draft, { pipe: pipe.input.value });
    } else if (type === 'pump_failure') {
      const pump = this.namePicker('scenario-pump', t('scenarios.pump'), 'water_pumps');
      fields = [pump.element];
      read = () => Object.assign(draft, { pump: pump.input.value });
    } else {
      const source = this.pointPicker();
      const from = text('scenario-wind-from', '270');
      const speed = text('scenario-wind-speed', '3');
      const length = text('scenario-plume-length', '2000');
      const pollutant = text('scenario-pollutant', 'NO2');
      fields = [
        source.element,
        field(from.id, t('scenarios.windFrom'), from),
        field(speed.id, t('scenarios.windSpeed'), speed),
        field(length.id, t('scenarios.plumeLength'), length),
        field(pollutant.id, t('scenarios.pollutant'), pollutant),
      ];
      read = () => Object.assign(draft, { source: source.point(), windFromDeg: from.value, windSpeedMS: speed.value, lengthM: length.value, pollutant: pollutant.value });
    }
    this.openForm(title, type, fields, (atMin) => (read(), buildEvent({ ...draft, atMin })), 'event');
  }

  private openMeasure(type: MeasureType): void {
    const { t } = this.o;
    const s = this.scenario;
    if (!s) return;
    const draft: MeasureDraft = { type };
    let fields: HTMLElement[] = [];
    let read: () => void = () => undefined;
    if (type === 'close_road') {
      const reason = h('input', { id: 'scenario-reason', type: 'text', autocomplete: 'off' });
      const streets = this.streetsPicker(() => undefined);
      fields = [streets.element, field('scenario-reason', t('scenarios.reason'), reason)];
      read = () => Object.assign(draft, { edgeIds: streets.ids(), reason: reason.value });
    } else if (type === 'reopen_road') {
      const boxes = s.live_closures.map((c) =>
        h(
          'label',
          { className: 'scenario-check' },
          h('input', { type: 'checkbox', value: String(c.id), 'data-closure': String(c.id) }),
          ` n° ${c.id} ${c.reason ?? ''} (${c.edge_ids?.length ?? 0} ${t('scenarios.arcs')})`,
        ),
      );
      fields = [h('fieldset', { id: 'scenario-live-closures' }, h('legend', {}, t('scenarios.liveClosures')), boxes.length ? boxes : h('p', { className: 'muted' }, t('scenarios.noLiveClosures')))];
      read = () =>
        Object.assign(draft, {
          closureIds: [...this.form.querySelectorAll<HTMLInputElement>('#scenario-live-closures input:checked')].map((b) => Number(b.value)),
        });
    } else if (type === 'send_crew') {
      const crew = h('select', { id: 'scenario-crew' }, h('option', { value: '' }, t('app.loading')));
      const event = h(
        'select',
        { id: 'scenario-crew-event' },
        s.events.map((e, i) => h('option', { value: String(i) }, `${i + 1}. ${t(`scenarios.event.${e.type}` as MessageKey)}`)),
      );
      fields = [field('scenario-crew', t('scenarios.crew'), crew), field('scenario-crew-event', t('scenarios.crewEvent'), event)];
      void this.loadCrews(crew);
      read = () => Object.assign(draft, { crewId: crew.value, eventIndex: event.value });
    } else {
      const valve = this.namePicker('scenario-valve', t('scenarios.valve'), 'water_valves');
      const action = h(
        'select',
        { id: 'scenario-valve-action' },
        h('option', { value: 'close' }, t('scenarios.valveClose')),
        h('option', { value: 'open' }, t('scenarios.valveOpen')),
      );
      fields = [valve.element, field('scenario-valve-action', t('scenarios.valveAction'), action)];
      read = () => Object.assign(draft, { valve: valve.input.value, open: action.value === 'open' });
    }
    this.openForm(t(`scenarios.measure.${type}` as MessageKey), type, fields, (atMin) => (read(), buildMeasure({ ...draft, atMin }, s.events.length)), 'measure');
  }

  private async loadCrews(select: HTMLSelectElement): Promise<void> {
    const { t } = this.o;
    try {
      this.crews ??= (await api<{ crews: { id: number; name: string; active: boolean }[] }>(`/api/dispatch/crews?${new URLSearchParams({ territory: this.o.territory })}`)).crews.filter(
        (c) => c.active,
      );
    } catch {
      this.crews = [];
    }
    clear(select);
    select.appendChild(h('option', { value: '' }, this.crews.length ? t('scenarios.chooseCrew') : t('scenarios.noCrews')));
    for (const c of this.crews) select.appendChild(h('option', { value: String(c.id) }, c.name));
  }
}

function field(id: string, label: string, control: HTMLElement): HTMLElement {
  return h('div', { className: 'field' }, h('label', { for: id }, label), control);
}

// The incidents panel (every signed-in role: group INCIDENTS): the territory's open incidents by priority,
// live (a new one appears at once, highlighted; changes are applied in place), filters by status and
// category, a detail with the detections that raised it and its log, and — for admin and operator
// (INCIDENT_HANDLING) — acknowledge, assign (a crew or a service named in words), resolve, and declaring an
// incident at a point picked on the map. The incidents are drawn on the map by the overlay of ./overlay.ts.
import type { Map as MapLibreMap } from 'maplibre-gl';
import { api, type Me } from '../core/api';
import { append, clear, h } from '../core/dom';
import { getLang, type MessageKey, type Translate } from '../i18n';
import { mapPicker, type Pick as MapPick } from '../console/mappick';
import { currentTerritory } from '../console/territory';
import { acquireStream, type LoggedEvent } from '../live/stream';
import type { OverlayRegistry } from '../overlays/registry';
import { panels } from '../panels/registry';
import { formatClock } from '../routing/format';
import {
  actionsFor,
  canHandle,
  CATEGORIES,
  declarationProblem,
  explanation,
  formatAge,
  formatExposure,
  matchesFilter,
  mergeLog,
  SEVERITIES,
  severityColour,
  sortIncidents,
  STATUSES,
  upsertIncident,
  type Detection,
  type Incident,
  type IncidentDetail,
  type IncidentFilter,
  type LogEntry,
} from './model';
import { IncidentConsequences } from './consequences';
import { registerIncidentsOverlay } from './overlay';
import { pictogram } from './pictograms';
import { IncidentStore } from './store';
import { badge, errorText, field, liveBadge, logItem, noteForm } from './ui';
import './incidents.css';

export const INCIDENTS_PANEL = 'incidents';
const PICK_OWNER = 'incident-declare';

panels.register({
  id: INCIDENTS_PANEL,
  title: 'panel.incidents',
  order: 100,
  mount(container, { t, overlays, map, me }) {
    return mountIncidents(container, t, overlays, map, me);
  },
});

/** Show the incidents panel (its tab) and open one incident: what a click on the map's marker does. */
export const openIncidentRequests = new Set<(id: number) => void>();
export function openIncident(id: number): void {
  document.querySelector<HTMLElement>(`[role=tab][data-panel=${INCIDENTS_PANEL}]`)?.click();
  for (const open of openIncidentRequests) open(id);
}

function mountIncidents(container: HTMLElement, t: Translate, overlays: OverlayRegistry, map: MapLibreMap, me: Me): () => void {
  const lang = getLang();
  const handler = canHandle(me.role);
  let store: IncidentStore | null = null;
  let territory: { id: number; name: string } | null = null;
  let destroyed = false;
  let release: (() => void) | null = null;
  let selected: number | null = null;
  let detail: IncidentDetail | null = null;
  const filter: IncidentFilter = { status: 'open', category: 'all' };
  const cleanups: (() => void)[] = [];

  const drawn = registerIncidentsOverlay(overlays, map, () => store, (id) => openIncident(id));
  cleanups.push(drawn.unregister);
  const consequences = new IncidentConsequences(t, overlays, handler);
  cleanups.push(() => consequences.destroy());

  // ---- list view
  const statusFilter = h(
    'select',
    { id: 'incidents-filter-status', onchange: () => ((filter.status = statusFilter.value as IncidentFilter['status']), renderList()) },
    h('option', { value: 'open', selected: true }, t('incidents.filter.open')),
    STATUSES.filter((s) => s !== 'resolved').map((s) => h('option', { value: s }, t(`incidents.status.${s}` as MessageKey))),
  );
  const categoryFilter = h(
    'select',
    { id: 'incidents-filter-category', onchange: () => ((filter.category = categoryFilter.value), renderList()) },
    h('option', { value: 'all', selected: true }, t('incidents.filter.allCategories')),
    CATEGORIES.map((c) => h('option', { value: c }, t(`incidents.category.${c}` as MessageKey))),
  );
  const live = liveBadge(t, 'incidents-live');
  const notice = h('p', { id: 'incidents-notice', className: 'incident-notice', role: 'status', 'aria-live': 'polite', hidden: true });
  const status = h('p', { id: 'incidents-status', className: 'muted', role: 'status', 'aria-live': 'polite' });
  const list = h('ul', { id: 'incidents-list', className: 'incidents', 'aria-label': t('incidents.listLabel') });
  const declareButton = h('button', { type: 'button', id: 'incidents-declare', className: 'button secondary', hidden: !handler }, t('incidents.declare'));
  const declareForm = h('form', { id: 'incident-declare-form', className: 'incident-form', hidden: true, novalidate: true });
  const listView = h(
    'div',
    { id: 'incidents-view' },
    h('div', { className: 'row' }, live.element, handler ? declareButton : null),
    notice,
    h(
      'div',
      { className: 'row filters' },
      h('label', { for: 'incidents-filter-status', className: 'visually-hidden' }, t('incidents.filter.status')),
      statusFilter,
      h('label', { for: 'incidents-filter-category', className: 'visually-hidden' }, t('incidents.filter.category')),
      categoryFilter,
    ),
    declareForm,
    status,
    list,
  );
  const detailView = h('section', { id: 'incident-detail', hidden: true, 'aria-live': 'polite' });
  container.append(listView, detailView);

  function renderList(): void {
    if (!store) return;
    clear(list);
    const now = Date.now();
    const shown = store.all().filter((i) => matchesFilter(i, filter));
    list.dataset.count = String(shown.length);
    if (!store.loaded) return;
    if (!shown.length) list.appendChild(h('li', { id: 'incidents-empty', className: 'muted' }, t('incidents.none')));
    for (const incident of shown) {
      const exposure = formatExposure(incident.exposure, lang);
      const fresh = store.isFresh(incident.id);
      list.appendChild(
        h(
          'li',
          {
            className: fresh ? 'incident fresh' : 'incident',
            'data-incident': String(incident.id),
            'data-status': incident.status,
            'data-severity': incident.severity,
            'data-priority': String(incident.priority),
            'data-fresh': fresh ? 'true' : null,
          },
          h(
            'button',
            { type: 'button', className: 'incident-open', onclick: () => void select(incident.id) },
            badge(t, incident),
            pictogram(incident.category, t(`incidents.category.${incident.category}` as MessageKey)),
            h('span', { className: 'incident-title' }, incident.title),
            h(
              'span',
              { className: 'incident-meta muted' },
              `${t(`incidents.status.${incident.status}` as MessageKey)} · ${formatAge(incident.opened_at, now, lang)}`,
            ),
            exposure ? h('span', { className: 'incident-exposure' }, exposure) : null,
          ),
        ),
      );
    }
  }

  // ---- detail view
  async function select(id: number, fly = true): Promise<void> {
    selected = id;
    detail = null;
    listView.hidden = true;
    detailView.hidden = false;
    clear(detailView);
    detailView.dataset.incident = String(id);
    detailView.appendChild(h('p', { className: 'muted' }, t('app.loading')));
    const known = store?.get(id);
    if (fly && known) flyTo(known);
    try {
      const loaded = await api<IncidentDetail>(`/api/incidents/${id}`);
      if (destroyed || selected !== id) return;
      detail = { ...loaded, detections: loaded.detections ?? [], log: mergeLog([], loaded.log ?? []) };
      if (fly && !known) flyTo(detail);
      renderDetail();
    } catch (error) {
      if (selected !== id) return;
      clear(detailView);
      detailView.append(backButton(), h('p', { className: 'error' }, errorText(t, error)));
    }
  }

  function flyTo(incident: Pick<Incident, 'lon' | 'lat'>): void {
    if (Number.isFinite(incident.lon) && Number.isFinite(incident.lat)) {
      map.flyTo({ center: [incident.lon, incident.lat], zoom: Math.max(map.getZoom(), 16), duration: 800 });
    }
  }

  function backButton(): HTMLElement {
    return h('button', { type: 'button', id: 'incident-back', className: 'button secondary', onclick: () => closeDetail() }, t('incidents.back'));
  }

  function closeDetail(): void {
    consequences.hide();
    selected = null;
    detail = null;
    detailView.hidden = true;
    listView.hidden = false;
    delete detailView.dataset.incident;
    renderList();
  }

  function renderDetail(): void {
    if (!detail) return;
    const d = detail;
    clear(detailView);
    detailView.dataset.status = d.status;
    const assigned = d.assigned_to ?? (d.assigned_crew_id !== null ? t('incidents.crew', { id: d.assigned_crew_id }) : null);
    const row = (label: MessageKey, value: string | Node, key: string) => [h('dt', {}, t(label)), h('dd', { 'data-field': key }, value)];
    const facts = h(
      'dl',
      { className: 'attributes incident-facts' },
      ...row('incidents.field.status', t(`incidents.status.${d.status}` as MessageKey), 'status'),
      ...row('incidents.field.severity', t(`incidents.severity.${d.severity}` as MessageKey), 'severity'),
      ...row('incidents.field.priority', String(d.priority), 'priority'),
      ...row('incidents.field.category', t(`incidents.category.${d.category}` as MessageKey), 'category'),
      ...row('incidents.field.opened', `${formatClock(d.opened_at, lang)} (${formatAge(d.opened_at, Date.now(), lang)})`, 'opened'),
      ...row('incidents.field.origin', t(d.origin === 'manual' ? 'incidents.origin.manual' : 'incidents.origin.detection'), 'origin'),
      ...(formatExposure(d.exposure, lang) ? row('incidents.field.exposure', formatExposure(d.exposure, lang), 'exposure') : []),
      ...(assigned ? row('incidents.field.assigned', assigned, 'assigned') : []),
      ...(d.resolution ? row('incidents.field.resolution', d.resolution, 'resolution') : []),
    );
    const actionForm = h('form', { id: 'incident-action-form', className: 'incident-form', hidden: true, novalidate: true });
    const actionStatus = h('p', { id: 'incident-action-status', className: 'muted', role: 'status', 'aria-live': 'polite' });
    const actions = handler
      ? h(
          'div',
          { className: 'row incident-actions' },
          actionsFor(d.status).map((action) =>
            h(
              'button',
              { type: 'button', id: `incident-${action}`, className: 'button', onclick: () => openAction(action, actionForm, actionStatus) },
              t(`incidents.action.${action}` as MessageKey),
            ),
          ),
        )
      : null;
    const detections = h(
      'ul',
      { id: 'incident-detections', className: 'detections' },
      d.detections.length
        ? d.detections.map((det) => detectionItem(det))
        : h('li', { className: 'muted' }, t('incidents.noDetections')),
    );
    const log = h('ol', { id: 'incident-log', className: 'log' }, d.log.map((entry) => logItem(entry, lang)));
    const note = handler ? noteForm(t, 'incident-note', async (text) => postNote(text, d.id)) : null;
    append(
      detailView,
      backButton(),
      h('h3', { className: 'incident-heading' }, badge(t, d), pictogram(d.category, t(`incidents.category.${d.category}` as MessageKey)), h('span', { id: 'incident-title' }, d.title)),
      facts,
      d.description ? h('p', { className: 'incident-description' }, d.description) : null,
      actions,
      actionForm,
      actionStatus,
      consequences.show(d.id),
      h('h4', {}, t('incidents.detections')),
      detections,
      h('h4', {}, t('incidents.log')),
      log,
      note,
    );
  }

  function detectionItem(det: Detection): HTMLElement {
    return h(
      'li',
      { 'data-detection': String(det.id), 'data-open': det.ended_at ? 'false' : 'true' },
      badgeless(det),
      h('span', { className: 'detection-explanation' }, explanation(det, lang)),
      h('span', { className: 'muted small' }, `${formatClock(det.started_at, lang)}${det.ended_at ? ` – ${formatClock(det.ended_at, lang)}` : ` · ${t('incidents.detectionOpen')}`}`),
    );
  }

  function badgeless(det: Detection): HTMLElement {
    const colours = severityColour(det.severity);
    const el = h('span', { className: 'severity-dot', 'aria-hidden': 'true' });
    el.style.backgroundColor = colours.background;
    return el;
  }

  function openAction(action: 'acknowledge' | 'assign' | 'resolve', form: HTMLFormElement, actionStatus: HTMLElement): void {
    if (!detail) return;
    const id = detail.id;
    clear(form);
    form.hidden = false;
    form.dataset.action = action;
    const submit = h('button', { type: 'submit', id: `incident-${action}-submit`, className: 'button' }, t(`incidents.action.${action}Confirm` as MessageKey));
    const cancel = h('button', { type: 'button', className: 'button secondary', onclick: () => ((form.hidden = true), clear(form)) }, t('incidents.cancel'));
    const send = async (body: Record<string, unknown>) => {
      submit.disabled = true;
      actionStatus.textContent = t('incidents.saving');
      try {
        const updated = await api<Incident>(`/api/incidents/${id}/${action}`, { method: 'POST', body });
        actionStatus.textContent = t(`incidents.done.${action}` as MessageKey);
        form.hidden = true;
        if (updated && typeof updated.id === 'number') applyIncident(updated);
        await refreshDetail(id);
      } catch (error) {
        actionStatus.textContent = errorText(t, error);
      } finally {
        submit.disabled = false;
      }
    };
    if (action === 'acknowledge') {
      const note = h('input', { id: 'incident-acknowledge-note', type: 'text', maxlength: 2000 });
      form.append(field('incident-acknowledge-note', t('incidents.noteOptional'), note), h('div', { className: 'row' }, submit, cancel));
      form.onsubmit = (e) => {
        e.preventDefault();
        void send(note.value.trim() ? { note: note.value.trim() } : {});
      };
    } else if (action === 'assign') {
      const crew = h('select', { id: 'incident-assign-crew' }, h('option', { value: '' }, t('incidents.assign.noCrew')));
      const who = h('input', { id: 'incident-assign-to', type: 'text', maxlength: 200, placeholder: t('incidents.assign.toPlaceholder') });
      const note = h('input', { id: 'incident-assign-note', type: 'text', maxlength: 2000 });
      form.append(
        field('incident-assign-crew', t('incidents.assign.crew'), crew),
        field('incident-assign-to', t('incidents.assign.to'), who),
        field('incident-assign-note', t('incidents.noteOptional'), note),
        h('div', { className: 'row' }, submit, cancel),
      );
      void loadCrews(crew);
      form.onsubmit = (e) => {
        e.preventDefault();
        const body: Record<string, unknown> = {};
        if (crew.value) body.crew_id = Number(crew.value);
        else if (who.value.trim()) body.assigned_to = who.value.trim();
        else {
          actionStatus.textContent = t('incidents.assign.needWho');
          return;
        }
        if (note.value.trim()) body.note = note.value.trim();
        void send(body);
      };
    } else {
      const resolution = h('textarea', { id: 'incident-resolution', rows: 3, maxlength: 10000, required: true });
      form.append(field('incident-resolution', t('incidents.resolution'), resolution), h('div', { className: 'row' }, submit, cancel));
      form.onsubmit = (e) => {
        e.preventDefault();
        if (!resolution.value.trim()) {
          actionStatus.textContent = t('incidents.resolutionRequired');
          resolution.focus();
          return;
        }
        void send({ resolution: resolution.value.trim() });
      };
    }
    (form.querySelector('select, input, textarea') as HTMLElement | null)?.focus();
  }

  async function loadCrews(select: HTMLSelectElement): Promise<void> {
    if (!territory) return;
    try {
      const { crews } = await api<{ crews: { id: number; name: string; active: boolean }[] }>(`/api/dispatch/crews?${new URLSearchParams({ territory: territory.name })}`);
      for (const crew of crews.filter((c) => c.active)) select.appendChild(h('option', { value: String(crew.id) }, crew.name));
    } catch {
      // No crews (or no right to list them): the service named in words remains.
    }
  }

  async function refreshDetail(id: number): Promise<void> {
    try {
      const loaded = await api<IncidentDetail>(`/api/incidents/${id}`);
      if (destroyed || selected !== id) return;
      detail = {
        ...loaded,
        detections: loaded.detections ?? [],
        log: mergeLog(detail?.log ?? [], loaded.log ?? []),
      };
      renderDetail();
    } catch {
      // The live stream will bring the change; the detail stays as it was.
    }
  }

  async function postNote(text: string, incidentId: number | null): Promise<void> {
    if (!territory) return;
    const body: Record<string, unknown> = { territory: territory.id, text };
    if (incidentId !== null) body.incident_id = incidentId;
    const entry = await api<LogEntry>('/api/incidents/log', { method: 'POST', body });
    if (entry && typeof entry.id === 'number') applyLog(entry);
  }

  // ---- declaring an incident
  let declaredAt: [number, number] | null = null;
  function openDeclare(): void {
    clear(declareForm);
    declareForm.hidden = false;
    declaredAt = null;
    const pickButton = h('button', { type: 'button', id: 'incident-pick', className: 'button secondary', 'aria-pressed': 'false' }, t('incidents.declare.pick'));
    const where = h('span', { id: 'incident-pick-where', className: 'muted small' }, t('incidents.declare.noPoint'));
    const title = h('input', { id: 'incident-title-input', type: 'text', maxlength: 300, required: true });
    const category = h('select', { id: 'incident-category' }, CATEGORIES.map((c) => h('option', { value: c }, t(`incidents.category.${c}` as MessageKey))));
    const severity = h(
      'select',
      { id: 'incident-severity' },
      SEVERITIES.map((s) => h('option', { value: s, selected: s === 'warning' }, t(`incidents.severity.${s}` as MessageKey))),
    );
    const description = h('textarea', { id: 'incident-description', rows: 3, maxlength: 10000 });
    const message = h('p', { id: 'incident-declare-status', className: 'muted', role: 'status', 'aria-live': 'polite' });
    const submit = h('button', { type: 'submit', id: 'incident-declare-submit', className: 'button' }, t('incidents.declare.submit'));
    const cancel = h('button', { type: 'button', className: 'button secondary', onclick: () => closeDeclare() }, t('incidents.cancel'));
    pickButton.addEventListener('click', () => {
      if (mapPicker.owner() === PICK_OWNER) {
        mapPicker.cancel();
        return;
      }
      pickButton.setAttribute('aria-pressed', 'true');
      message.textContent = t('incidents.declare.pickHint');
      mapPicker.start(
        PICK_OWNER,
        (pick: MapPick) => {
          declaredAt = pick.lonLat;
          where.textContent = `${pick.lonLat[1].toFixed(5)}, ${pick.lonLat[0].toFixed(5)}`;
          where.dataset.lon = String(pick.lonLat[0]);
          where.dataset.lat = String(pick.lonLat[1]);
          message.textContent = '';
          mapPicker.release(PICK_OWNER);
          pickButton.setAttribute('aria-pressed', 'false');
          title.focus();
        },
        () => pickButton.setAttribute('aria-pressed', 'false'),
      );
    });
    declareForm.append(
      h('h3', {}, t('incidents.declare')),
      h('div', { className: 'row' }, pickButton, where),
      field('incident-title-input', t('incidents.declare.title'), title),
      field('incident-category', t('incidents.field.category'), category),
      field('incident-severity', t('incidents.field.severity'), severity),
      field('incident-description', t('incidents.declare.description'), description),
      h('div', { className: 'row' }, submit, cancel),
      message,
    );
    declareForm.onsubmit = async (e) => {
      e.preventDefault();
      const problem = declarationProblem({ title: title.value, lonLat: declaredAt });
      if (problem || !declaredAt || !territory) {
        message.textContent = t(problem ?? 'incidents.declare.needPoint');
        message.className = 'error';
        return;
      }
      message.className = 'muted';
      message.textContent = t('incidents.saving');
      submit.disabled = true;
      try {
        const created = await api<Incident>('/api/incidents', {
          method: 'POST',
          body: {
            territory: territory.id,
            title: title.value.trim(),
            category: category.value,
            severity: severity.value,
            description: description.value.trim(),
            lon: declaredAt[0],
            lat: declaredAt[1],
          },
        });
        closeDeclare();
        status.textContent = t('incidents.declare.done', { id: created.id });
        applyIncident(created);
      } catch (error) {
        message.className = 'error';
        message.textContent = errorText(t, error);
      } finally {
        submit.disabled = false;
      }
    };
    title.focus();
  }

  function closeDeclare(): void {
    if (mapPicker.owner() === PICK_OWNER) mapPicker.cancel();
    declareForm.hidden = true;
    clear(declareForm);
  }
  declareButton.addEventListener('click', () => (declareForm.hidden ? openDeclare() : closeDeclare()));

  // ---- live
  function applyIncident(incident: Incident): void {
    store?.apply({ id: 0, topic: 'incident', at: incident.updated_at, territory: territory?.id ?? null, payload: { action: 'updated', incident } });
    if (detail && detail.id === incident.id) {
      const merged = upsertIncident([detail], incident);
      if (merged.changed) {
        detail = { ...detail, ...merged.list[0] };
        renderDetail();
      }
    }
  }

  function applyLog(entry: LogEntry): void {
    if (detail && entry.incident_id === detail.id && !detail.log.some((e) => e.id === entry.id)) {
      detail.log = mergeLog(detail.log, [entry]);
      const log = detailView.querySelector('#incident-log');
      if (log) log.appendChild(logItem(entry, lang));
    }
  }

  function onEvent(event: LoggedEvent): void {
    consequences.onEvent(event);
    if (event.topic === 'incident') {
      const incident = (event.payload as { incident?: Incident }).incident;
      if (!incident) return;
      store?.apply(event);
      if (detail && detail.id === incident.id) applyIncident(incident);
    } else if (event.topic === 'log') {
      const entry = (event.payload as { entry?: LogEntry }).entry;
      if (entry) applyLog(entry);
    } else if (event.topic === 'detection') {
      const det = (event.payload as { detection?: Detection }).detection;
      if (det && detail && det.incident_id === detail.id) {
        const others = detail.detections.filter((x) => x.id !== det.id);
        detail.detections = [...others, det].sort((a, b) => a.id - b.id);
        renderDetail();
      }
    }
  }

  function announce(arrived: Incident[]): void {
    const [first] = sortIncidents(arrived);
    notice.hidden = false;
    notice.dataset.incident = String(first.id);
    notice.textContent =
      arrived.length === 1 ? t('incidents.arrived', { title: first.title }) : t('incidents.arrivedMany', { count: arrived.length, title: first.title });
    const hide = setTimeout(() => (notice.hidden = true), 15_000);
    cleanups.push(() => clearTimeout(hide));
  }

  async function reload(): Promise<void> {
    if (!store) return;
    try {
      await store.load();
      status.textContent = '';
    } catch (error) {
      status.textContent = errorText(t, error);
    }
    if (selected !== null) void refreshDetail(selected);
  }

  const open = (id: number) => void select(id, false);
  openIncidentRequests.add(open);
  cleanups.push(() => openIncidentRequests.delete(open));

  void (async () => {
    const found = await currentTerritory();
    if (destroyed) return;
    if (!found) {
      status.textContent = t('incidents.noTerritory');
      return;
    }
    territory = { id: found.id, name: found.name };
    store = new IncidentStore(found.id);
    cleanups.push(
      store.onChange((arrived) => {
        renderList();
        drawn.redraw();
        if (arrived.length) announce(arrived);
      }),
    );
    // The stream says when to load (once ready, so that no event falls between the answer and the stream).
    release = acquireStream(found.id, { onEvent, onResync: () => void reload(), onState: (s) => live.set(s) });
  })();

  // Ages ("il y a 5 min") and highlights move on with time.
  const ticker = setInterval(() => {
    if (!listView.hidden) renderList();
    drawn.redraw();
  }, 20_000);

  return () => {
    destroyed = true;
    clearInterval(ticker);
    if (mapPicker.owner() === PICK_OWNER) mapPicker.cancel();
    release?.();
    for (const cleanup of cleanups) cleanup();
  };
}

// The scenarios panel "Scénarios" (every signed-in role reads: group SIMULATION; admin, operator and planner
// also create, edit and run: group SCENARIOS). The territory's scenarios, newest first, with their last run;
// a scenario's events and measures (./editor.ts); "Lancer" queues a run whose progress comes from the live
// stream (topic `simulation`, kind `run`) — with a poll of the run when no event came for a while — and
// its results (./results.ts) drawn on the map (./overlay.ts) until the panel goes away.
import { ApiError, type Me } from '../core/api';
import { append, clear, h } from '../core/dom';
import { getLang, type MessageKey, type Translate } from '../i18n';
import { currentTerritory } from '../console/territory';
import { mapPicker } from '../console/mappick';
import { acquireStream, type LoggedEvent } from '../live/stream';
import type { OverlayRegistry } from '../overlays/registry';
import { panels } from '../panels/registry';
import { formatClock } from '../routing/format';
import { errorText, liveBadge } from '../incidents/ui';
import { createScenario, deleteScenario, getRun, getScenario, listScenarios, patchScenario, runLayers, runReport, startRun } from './client';
import { ScenarioEditor } from './editor';
import { applyRunEvent, canEditScenarios, isFinished, progressPercent, type Measure, type Run, type RunEvent, type Scenario, type ScenarioEvent } from './model';
import { ScenarioOverlay } from './overlay';
import { resultsView } from './results';
import './scenarios.css';

export const SCENARIOS_PANEL = 'scenarios';
/** Without a live event for this long, the watched run is asked for directly. */
const POLL_AFTER_MS = 4_000;
const POLL_EVERY_MS = 2_000;

panels.register({
  id: SCENARIOS_PANEL,
  title: 'panel.scenarios',
  order: 130,
  mount(container, { t, overlays, me }) {
    return mountScenarios(container, t, overlays, me);
  },
});

function dateTime(iso: string | null | undefined, lang: 'fr' | 'en'): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '—';
  return `${d.toLocaleDateString(lang === 'fr' ? 'fr-FR' : 'en-GB')} ${formatClock(iso, lang)}`;
}

function mountScenarios(container: HTMLElement, t: Translate, overlays: OverlayRegistry, me: Me): () => void {
  const lang = getLang();
  const editable = canEditScenarios(me.role);
  const overlay = new ScenarioOverlay(overlays);
  let territory: { id: number; name: string } | null = null;
  let scenarios: Scenario[] = [];
  let current: Scenario | null = null;
  let editor: ScenarioEditor | null = null;
  let watched: Run | null = null;
  let lastRunEventAt = 0;
  let destroyed = false;
  let release: (() => void) | null = null;

  // ---- list view
  const live = liveBadge(t, 'scenarios-live');
  const status = h('p', { id: 'scenarios-status', className: 'muted', role: 'status', 'aria-live': 'polite' });
  const list = h('ul', { id: 'scenarios-list', className: 'scenarios', 'aria-label': t('scenarios.listLabel') });
  const newButton = editable ? h('button', { type: 'button', id: 'scenario-new', className: 'button' }, t('scenarios.new')) : null;
  const newForm = h('form', { id: 'scenario-new-form', className: 'scenario-form', hidden: true, novalidate: true });
  const listView = h(
    'div',
    { id: 'scenarios-view' },
    h('p', { className: 'muted' }, editable ? t('scenarios.intro') : t('scenarios.introReadOnly')),
    h('div', { className: 'row' }, live.element, newButton),
    newForm,
    status,
    list,
  );
  const detailView = h('section', { id: 'scenario-detail', hidden: true });
  container.append(listView, detailView);

  function renderList(): void {
    clear(list);
    list.dataset.count = String(scenarios.length);
    if (!scenarios.length) {
      list.appendChild(h('li', { id: 'scenarios-empty', className: 'muted' }, t('scenarios.none')));
      return;
    }
    for (const s of scenarios) {
      const run = s.last_run;
      list.appendChild(
        h(
          'li',
          { className: 'scenario', 'data-scenario': String(s.id), 'data-run-status': run?.status ?? 'never' },
          h(
            'button',
            { type: 'button', className: 'scenario-open', onclick: () => void open(s.id) },
            h('span', { className: 'scenario-name' }, s.name),
            h('span', { className: 'scenario-meta muted small' }, run ? t(`scenarios.status.${run.status}` as MessageKey) : t('scenarios.neverRun'), ' · ', t('scenarios.updated', { when: dateTime(s.updated_at, lang) })),
          ),
        ),
      );
    }
  }

  async function load(): Promise<void> {
    if (!territory) return;
    try {
      scenarios = (await listScenarios(territory.name)).scenarios;
      if (destroyed) return;
      status.textContent = '';
    } catch (error) {
      status.textContent = errorText(t, error);
    }
    renderList();
  }

  function openNew(): void {
    clear(newForm);
    newForm.hidden = false;
    const name = h('input', { id: 'scenario-name', type: 'text', maxlength: 200, required: true, autocomplete: 'off' });
    const description = h('textarea', { id: 'scenario-description', rows: 2, maxlength: 4000 });
    const message = h('p', { id: 'scenario-new-status', className: 'muted small', role: 'status', 'aria-live': 'polite' });
    const submit = h('button', { type: 'submit', id: 'scenario-create', className: 'button' }, t('scenarios.create'));
    const cancel = h('button', { type: 'button', className: 'button secondary', onclick: () => (newForm.hidden = true) }, t('scenarios.cancel'));
    newForm.append(
      h('div', { className: 'field' }, h('label', { for: 'scenario-name' }, t('scenarios.name')), name),
      h('div', { className: 'field' }, h('label', { for: 'scenario-description' }, t('scenarios.description')), description),
      h('p', { className: 'muted small' }, t('scenarios.forkNote')),
      h('div', { className: 'row' }, submit, cancel),
      message,
    );
    newForm.onsubmit = async (e) => {
      e.preventDefault();
      if (!name.value.trim()) {
        message.className = 'error small';
        message.textContent = t('scenarios.nameRequired');
        name.setAttribute('aria-invalid', 'true');
        name.focus();
        return;
      }
      if (!territory) return;
      submit.disabled = true;
      try {
        const created = await createScenario({ territory: territory.name, name: name.value.trim(), description: description.value.trim() });
        newForm.hidden = true;
        await load();
        await open(created.id, created);
      } catch (error) {
        message.className = 'error small';
        message.textContent = errorText(t, error);
      } finally {
        submit.disabled = false;
      }
    };
    name.focus();
  }
  newButton?.addEventListener('click', () => (newForm.hidden ? openNew() : (newForm.hidden = true)));

  // ---- detail view
  const runButton = h('button', { type: 'button', id: 'scenario-run', className: 'button' }, t('scenarios.run'));
  const progress = h('progress', { id: 'scenario-progress', max: 100, value: 0, 'aria-label': t('scenarios.progress') });
  const stage = h('span', { id: 'scenario-stage', className: 'muted small' });
  const runStatus = h('p', { id: 'scenario-run-status', className: 'muted', role: 'status', 'aria-live': 'polite' });
  const progressRow = h('div', { id: 'scenario-progress-row', className: 'scenario-progress', hidden: true }, progress, stage);
  const results = h('div', { id: 'scenario-results-slot' });
  const detailStatus = h('p', { id: 'scenario-status', className: 'muted', role: 'status', 'aria-live': 'polite' });

  async function open(id: number, known?: Scenario): Promise<void> {
    listView.hidden = true;
    detailView.hidden = false;
    clear(detailView);
    detailView.dataset.scenario = String(id);
    detailView.appendChild(h('p', { className: 'muted' }, t('app.loading')));
    try {
      current = known ?? (await getScenario(id));
    } catch (error) {
      clear(detailView);
      detailView.append(backButton(), h('p', { className: 'error' }, errorText(t, error)));
      return;
    }
    if (destroyed || detailView.dataset.scenario !== String(id)) return;
    renderDetail();
    watched = null;
    overlay.setResult(null);
    clear(results);
    progressRow.hidden = true;
    delete progressRow.dataset.results;
    runStatus.textContent = '';
    detailStatus.textContent = '';
    runButton.disabled = false;
    const run = current.last_run;
    if (run) showRun(run);
  }

  function backButton(): HTMLElement {
    return h('button', { type: 'button', id: 'scenario-back', className: 'button secondary', onclick: () => closeDetail() }, t('scenarios.back'));
  }

  function closeDetail(): void {
    editor?.destroy();
    editor = null;
    current = null;
    watched = null;
    overlay.setResult(null);
    detailView.hidden = true;
    listView.hidden = false;
    delete detailView.dataset.scenario;
    void load();
  }

  function renderDetail(): void {
    const s = current;
    if (!s) return;
    clear(detailView);
    editor?.destroy();
    editor = new ScenarioEditor({ t, overlay, editable, territory: s.territory?.name ?? territory?.name ?? '', save });
    editor.show(s);
    detailView.dataset.version = String(s.version);
    const remove = editable
      ? h('button', { type: 'button', id: 'scenario-delete', className: 'button secondary', onclick: () => void removeScenario(s) }, t('scenarios.delete'))
      : null;
    append(
      detailView,
      h('div', { className: 'row' }, backButton(), remove),
      h('h3', { id: 'scenario-title' }, s.name),
      s.description ? h('p', { className: 'scenario-description' }, s.description) : null,
      h('p', { className: 'muted small' }, t('scenarios.forkedAt', { when: dateTime(s.forked_at, lang), count: s.live_closures.length }), ' · ', t('scenarios.version', { version: s.version })),
      editor.element,
      detailStatus,
      editable ? h('div', { className: 'row' }, runButton) : null,
      progressRow,
      runStatus,
      results,
    );
  }

  /** PATCH the lists with the version read; a 409 reloads the scenario and says so. */
  async function save(events: ScenarioEvent[], measures: Measure[]): Promise<boolean> {
    const s = current;
    if (!s) return false;
    detailStatus.className = 'muted';
    detailStatus.textContent = t('scenarios.saving');
    try {
      current = await patchScenario(s.id, { version: s.version, events, measures });
      detailStatus.textContent = t('scenarios.saved');
      editor?.show(current);
      detailView.dataset.version = String(current.version);
      return true;
    } catch (error) {
      detailStatus.className = 'error';
      if (error instanceof ApiError && error.status === 409) {
        try {
          current = await getScenario(s.id);
          editor?.show(current);
          detailView.dataset.version = String(current.version);
        } catch {
          // The reload failed too: the message below still tells what happened.
        }
        detailStatus.textContent = t('scenarios.conflict');
      } else {
        detailStatus.textContent = errorText(t, error);
      }
      return false;
    }
  }

  async function removeScenario(s: Scenario): Promise<void> {
    if (!window.confirm(t('scenarios.deleteConfirm', { name: s.name }))) return;
    try {
      await deleteScenario(s.id);
      closeDetail();
    } catch (error) {
      detailStatus.className = 'error';
      detailStatus.textContent = errorText(t, error);
    }
  }

  runButton.addEventListener('click', async () => {
    const s = current;
    if (!s) return;
    if (mapPicker.owner() !== null) mapPicker.cancel();
    runButton.disabled = true;
    runStatus.className = 'muted';
    runStatus.textContent = t('scenarios.queued');
    overlay.setResult(null);
    clear(results);
    try {
      showRun(await startRun(s.id));
    } catch (error) {
      runStatus.className = 'error';
      runStatus.textContent = errorText(t, error);
      runButton.disabled = false;
    }
  });

  // ---- runs: progress, then results
  function showRun(run: Run): void {
    watched = run;
    lastRunEventAt = Date.now();
    progressRow.hidden = false;
    progressRow.dataset.run = String(run.id);
    progressRow.dataset.status = run.status;
    progressRow.dataset.progress = String(progressPercent(run));
    progress.value = progressPercent(run);
    progress.textContent = `${progressPercent(run)} %`;
    stage.textContent = run.stage ? `${progressPercent(run)} % · ${run.stage}` : `${progressPercent(run)} %`;
    runStatus.className = run.status === 'failed' ? 'error' : 'muted';
    runStatus.textContent = run.status === 'failed' && run.error ? `${t('scenarios.status.failed')} : ${run.error}` : t(`scenarios.status.${run.status}` as MessageKey);
    runButton.disabled = !isFinished(run.status);
    if (run.status === 'done') void showResults(run);
  }

  async function showResults(run: Run): Promise<void> {
    try {
      const [report, layers] = await Promise.all([runReport(run.id), runLayers(run.id)]);
      if (destroyed || watched?.id !== run.id) return;
      overlay.setResult(layers);
      clear(results);
      results.appendChild(resultsView(t, run, report, overlay));
      progressRow.dataset.results = 'true';
    } catch (error) {
      runStatus.className = 'error';
      runStatus.textContent = errorText(t, error);
    }
  }

  async function poll(): Promise<void> {
    const run = watched;
    if (!run || isFinished(run.status)) return;
    try {
      const fresh = await getRun(run.id);
      if (watched?.id === fresh.id && !isFinished(watched.status)) showRun(fresh);
    } catch {
      // The next tick asks again.
    }
  }
  const poller = setInterval(() => {
    if (watched && !isFinished(watched.status) && Date.now() - lastRunEventAt > POLL_AFTER_MS) void poll();
  }, POLL_EVERY_MS);

  function onEvent(event: LoggedEvent): void {
    if ((event.topic as string) !== 'simulation') return;
    const payload = event.payload as Partial<RunEvent>;
    if (payload.kind !== 'run') return;
    const listed = scenarios.find((s) => s.id === payload.scenario_id);
    if (listed && payload.run_id !== undefined) {
      listed.last_run = applyRunEvent(listed.last_run?.id === payload.run_id ? listed.last_run : ({ id: payload.run_id, status: 'queued', progress: 0, stage: '' } as Run), payload);
      if (!listView.hidden) renderList();
    }
    if (watched && payload.run_id === watched.id) {
      lastRunEventAt = Date.now();
      const next = applyRunEvent(watched, payload);
      // The finished run's KPIs come with the run itself: fetch it once done.
      if (next.status === 'done' && !isFinished(watched.status)) {
        watched = next;
        void getRun(next.id).then((full) => watched?.id === full.id && showRun(full), () => showRun(next));
      } else if (next !== watched) {
        showRun(next);
      }
    }
  }

  void (async () => {
    const found = await currentTerritory();
    if (destroyed) return;
    if (!found) {
      status.textContent = t('incidents.noTerritory');
      return;
    }
    territory = { id: found.id, name: found.name };
    release = acquireStream(found.id, {
      onEvent,
      onResync: () => {
        void load();
        void poll();
      },
      onState: (s) => live.set(s),
    });
  })();

  return () => {
    destroyed = true;
    clearInterval(poller);
    editor?.destroy();
    release?.();
    overlay.destroy();
  };
}

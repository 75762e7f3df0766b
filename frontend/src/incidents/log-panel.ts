// The main courante (the control room's log) of the territory, live: every entry (incident created,
// acknowledged, assigned, resolved, notes), newest first, each linked to its incident; admin and operator
// write notes in it.
import { api, type Me } from '../core/api';
import { append, clear, h } from '../core/dom';
import { getLang, type Translate } from '../i18n';
import { currentTerritory } from '../console/territory';
import { acquireStream, type LoggedEvent } from '../live/stream';
import { panels } from '../panels/registry';
import { canHandle, mergeLog, type LogEntry } from './model';
import { openIncident } from './panel';
import { errorText, liveBadge, logItem, noteForm } from './ui';

/** How many entries the view keeps (older ones stay in the database and the API). */
export const LOG_LIMIT = 500;

panels.register({
  id: 'main-courante',
  title: 'panel.log',
  order: 105,
  mount(container, { t, me }) {
    return mountLog(container, t, me);
  },
});

function mountLog(container: HTMLElement, t: Translate, me: Me): () => void {
  const lang = getLang();
  let entries: LogEntry[] = [];
  let territory: number | null = null;
  let destroyed = false;
  let release: (() => void) | null = null;
  let serial = 0;

  const live = liveBadge(t, 'log-live');
  const status = h('p', { id: 'log-status', className: 'muted', role: 'status', 'aria-live': 'polite' });
  const list = h('ol', { id: 'log-list', className: 'log', reversed: true, 'aria-label': t('panel.log') });
  const note = canHandle(me.role) ? noteForm(t, 'log-note', (text) => postNote(text)) : null;
  append(container, h('p', { className: 'muted' }, t('log.intro')), live.element, note, status, list);

  function render(): void {
    clear(list);
    list.dataset.count = String(entries.length);
    if (!entries.length) list.appendChild(h('li', { id: 'log-empty', className: 'muted' }, t('log.empty')));
    for (const entry of [...entries].reverse()) {
      const item = logItem(entry, lang);
      if (entry.incident_id !== null) {
        const id = entry.incident_id;
        item.appendChild(
          h('button', { type: 'button', className: 'link-button small', onclick: () => openIncident(id) }, t('log.openIncident', { id })),
        );
      }
      list.appendChild(item);
    }
  }

  function add(incoming: LogEntry[]): void {
    entries = mergeLog(entries, incoming).slice(-LOG_LIMIT);
    render();
  }

  async function load(): Promise<void> {
    if (territory === null) return;
    const mine = ++serial;
    try {
      const { entries: loaded } = await api<{ entries: LogEntry[] }>(`/api/incidents/log?${new URLSearchParams({ territory: String(territory) })}`);
      if (destroyed || mine !== serial) return;
      add(loaded);
      status.textContent = '';
    } catch (error) {
      status.textContent = errorText(t, error);
    }
  }

  async function postNote(text: string): Promise<void> {
    if (territory === null) return;
    const entry = await api<LogEntry>('/api/incidents/log', { method: 'POST', body: { territory, text } });
    if (entry && typeof entry.id === 'number') add([entry]);
  }

  const onEvent = (event: LoggedEvent) => {
    if (event.topic !== 'log') return;
    const entry = (event.payload as { entry?: LogEntry }).entry;
    if (entry && typeof entry.id === 'number') add([entry]);
  };

  void (async () => {
    const found = await currentTerritory();
    if (destroyed || !found) return;
    territory = found.id;
    // The stream says when to load (once ready, so that no event falls between the answer and the stream).
    release = acquireStream(found.id, { onEvent, onResync: () => void load(), onState: (s) => live.set(s) });
  })();

  return () => {
    destroyed = true;
    release?.();
  };
}

// Pieces of UI shared by the incidents, main courante and sensors panels: error text, the severity badge,
// the live-state note, a labelled field, a log line and the note form.
import { ApiError } from '../core/api';
import { h } from '../core/dom';
import { type Lang, type MessageKey, type Translate } from '../i18n';
import type { LiveState } from '../live/connection';
import { formatClock } from '../routing/format';
import { severityColour, type Incident, type LogEntry } from './model';

export function errorText(t: Translate, error: unknown): string {
  return t('error.generic', { detail: error instanceof ApiError ? error.detail : (error as Error).message });
}

export function badge(t: Translate, incident: Pick<Incident, 'severity' | 'priority'>): HTMLElement {
  const colours = severityColour(incident.severity);
  const el = h(
    'span',
    { className: 'incident-badge', 'data-severity': incident.severity, title: t(`incidents.severity.${incident.severity}` as MessageKey) },
    t('incidents.priorityShort', { priority: incident.priority }),
  );
  el.style.backgroundColor = colours.background;
  el.style.color = colours.ink;
  return el;
}

export function liveBadge(t: Translate, id: string): { element: HTMLElement; set(state: LiveState): void } {
  const element = h('p', { id, className: 'live-note small', 'data-state': 'connecting', role: 'status' }, t('live.connecting'));
  return {
    element,
    set(state) {
      element.dataset.state = state;
      element.textContent = t(`live.${state === 'reconnecting' ? 'connecting' : state}`);
    },
  };
}

export function field(id: string, label: string, control: HTMLElement): HTMLElement {
  return h('div', { className: 'field' }, h('label', { for: id }, label), control);
}

export function logItem(entry: LogEntry, lang: Lang): HTMLElement {
  return h(
    'li',
    { 'data-entry': String(entry.id), 'data-kind': entry.entry, 'data-incident': entry.incident_id === null ? null : String(entry.incident_id) },
    h('span', { className: 'log-time' }, formatClock(entry.at, lang)),
    ' ',
    h('span', { className: 'log-author muted' }, entry.author),
    ' ',
    h('span', { className: 'log-text' }, entry.text),
  );
}

/** A one-line note input with its button; `send` posts it (errors are shown under it). */
export function noteForm(t: Translate, id: string, send: (text: string) => Promise<void>): HTMLFormElement {
  const input = h('textarea', { id, rows: 2, maxlength: 10000, placeholder: t('log.notePlaceholder') });
  const submit = h('button', { type: 'submit', id: `${id}-submit`, className: 'button' }, t('log.add'));
  const message = h('p', { id: `${id}-status`, className: 'muted small', role: 'status', 'aria-live': 'polite' });
  const form = h('form', { className: 'note-form', novalidate: true }, field(id, t('log.note'), input), h('div', { className: 'row' }, submit), message);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text) {
      message.className = 'error small';
      message.textContent = t('log.noteRequired');
      return;
    }
    submit.disabled = true;
    message.className = 'muted small';
    message.textContent = t('incidents.saving');
    send(text)
      .then(() => {
        input.value = '';
        message.textContent = t('log.added');
      })
      .catch((error: unknown) => {
        message.className = 'error small';
        message.textContent = errorText(t, error);
      })
      .finally(() => (submit.disabled = false));
  });
  return form;
}

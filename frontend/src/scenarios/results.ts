// A finished run's results in the scenarios panel: the KPI table side by side (référence | scénario | écart,
// each row coloured by whether the scenario does better or worse), the summary, the timeline, recommended
// actions, critical sites hit, the map layers' toggles and the downloads (GeoJSON, CSV, JSON: plain links,
// the session cookie authenticates them).
import { h } from '../core/dom';
import { getLang, type MessageKey, type Translate } from '../i18n';
import { formatDuration } from '../routing/format';
import type { Report } from './client';
import { DOWNLOAD_FORMATS, downloadUrl, inLang, kpiRows, type Run } from './model';
import { RESULT_LAYERS, type ScenarioOverlay } from './overlay';

export function kpiTable(t: Translate, run: Run): HTMLElement {
  const rows = kpiRows(run.comparison, getLang());
  return h(
    'table',
    { id: 'scenario-kpis', className: 'scenario-kpis', 'data-rows': String(rows.length) },
    h('caption', { className: 'visually-hidden' }, t('scenarios.kpiCaption')),
    h('colgroup', {}, h('col', { className: 'kpi-label' }), h('col', {}), h('col', {}), h('col', {})),
    h(
      'thead',
      {},
      h('tr', {}, h('th', { scope: 'col' }, t('scenarios.kpi')), h('th', { scope: 'col' }, t('scenarios.baseline')), h('th', { scope: 'col' }, t('scenarios.scenario')), h('th', { scope: 'col' }, t('scenarios.delta'))),
    ),
    h(
      'tbody',
      {},
      rows.map((r) =>
        h(
          'tr',
          { 'data-kpi': r.kpi, 'data-verdict': r.verdict, title: t(`scenarios.verdict.${r.verdict}` as MessageKey) },
          h('th', { scope: 'row' }, r.label),
          h('td', { 'data-col': 'baseline' }, r.baseline),
          h('td', { 'data-col': 'scenario' }, r.scenario),
          h('td', { 'data-col': 'delta' }, r.delta, h('span', { className: 'visually-hidden' }, ` (${t(`scenarios.verdict.${r.verdict}` as MessageKey)})`)),
        ),
      ),
    ),
  );
}

export function resultsView(t: Translate, run: Run, report: Report | null, overlay: ScenarioOverlay): HTMLElement {
  const lang = getLang();
  const sites = report?.critical_sites_hit ?? [];
  const actions = report?.recommended_actions ?? [];
  const timeline = report?.timeline ?? [];
  const toggles = RESULT_LAYERS.map((kind) => {
    const id = `scenario-layer-${kind}`;
    return h(
      'li',
      {},
      h('input', {
        type: 'checkbox',
        id,
        'data-layer': kind,
        checked: overlay.isVisible(kind),
        disabled: !overlay.count(kind),
        onchange: (e: Event) => overlay.setVisible(kind, (e.target as HTMLInputElement).checked),
      }),
      h('label', { for: id }, t(`scenarios.layer.${kind}` as MessageKey), ` (${overlay.count(kind)})`),
    );
  });
  return h(
    'section',
    { id: 'scenario-results', className: 'scenario-results', 'data-run': String(run.id) },
    h('h4', {}, t('scenarios.results')),
    report?.summary ? h('p', { id: 'scenario-summary' }, inLang(report.summary, lang)) : null,
    report?.baseline?.summary ? h('p', { className: 'muted small' }, t('scenarios.baselineSummary', { text: inLang(report.baseline.summary, lang) })) : null,
    kpiTable(t, run),
    h('h4', {}, t('scenarios.mapLayers')),
    h('ul', { id: 'scenario-layer-toggles', className: 'layer-list' }, toggles),
    h(
      'div',
      { className: 'row', id: 'scenario-downloads' },
      h('span', {}, t('scenarios.download')),
      DOWNLOAD_FORMATS.map((format) =>
        h('a', { className: 'button secondary small', id: `scenario-download-${format}`, href: downloadUrl(run.id, format), download: '' }, format.toUpperCase()),
      ),
    ),
    h('h4', {}, t('scenarios.sitesHit')),
    h(
      'ul',
      { id: 'scenario-sites', className: 'scenario-list' },
      sites.length
        ? sites.map((s) => h('li', { 'data-site': String(s.id) }, h('strong', {}, s.name ?? `${s.kind} ${s.id}`), ' ', h('span', { className: 'muted' }, s.causes.map((c) => causeLabel(t, c)).join(', '))))
        : h('li', { className: 'muted' }, t('scenarios.noSites')),
    ),
    h('h4', {}, t('scenarios.actions')),
    h(
      'ul',
      { id: 'scenario-actions', className: 'scenario-list' },
      actions.length ? actions.map((a) => h('li', { 'data-kind': a.kind }, inLang(a, lang))) : h('li', { className: 'muted' }, t('scenarios.noActions')),
    ),
    timeline.length
      ? [
          h('h4', {}, t('scenarios.timeline')),
          h('ol', { id: 'scenario-timeline', className: 'scenario-list' }, timeline.map((step) => h('li', {}, h('span', { className: 'log-time' }, typeof step.clock === 'string' ? step.clock : `+${formatDuration(step.at_s, lang)}`), ' ', inLang(step, lang)))),
        ]
      : null,
  );
}

/** A cause code in words ("road_isolated" → "accès coupé"), the code itself when unknown. */
export function causeLabel(t: Translate, cause: string): string {
  const key = `scenarios.cause.${cause}` as MessageKey;
  const text = t(key);
  return text === key ? cause : text;
}

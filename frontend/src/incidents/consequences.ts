// The "Conséquences" section of the incident card: what the server computed for the incident
// (GET /api/incidents/{id}/consequences) — status, summary, residents and critical sites hit, the main
// reasons, recommended actions — refreshed by the live event `incident_consequences` (topic simulation), a
// "Voir sur la carte" drawing the affected assets, and "Recalculer" for the roles that handle incidents.
import { ScatterplotLayer } from '@deck.gl/layers';
import type { Layer } from '@deck.gl/core';
import { api, ApiError } from '../core/api';
import { append, clear, h } from '../core/dom';
import { formatNumber, getLang, type Lang, type MessageKey, type Translate } from '../i18n';
import { fetchFeature, geometryBBox } from '../console/ogc';
import type { LoggedEvent } from '../live/stream';
import type { OverlayRegistry } from '../overlays/registry';
import { ownOverlay } from '../overlays/owned';
import { hexToRgba, type LonLat } from '../routing/format';
import type { Report } from '../scenarios/client';
import { causeColour, inLang } from '../scenarios/model';
import { causeLabel } from '../scenarios/results';
import { errorText } from './ui';

export const CONSEQUENCES_OVERLAY = 'incident-consequences';
/** At most this many assets are drawn (each without coordinates is fetched from the OGC API). */
const MAX_DRAWN = 200;
const POLL_PENDING_MS = 5_000;

export interface IncidentConsequencesDoc {
  incident_id: number;
  status: 'pending' | 'done' | 'failed' | 'not_applicable';
  events: unknown[];
  report: Report | null;
  error: string | null;
  requested_at: string | null;
  computed_at: string | null;
  duration_ms: number | null;
  /** Why it is not applicable (or what the events stand for), and the assumptions the inference made. */
  reason?: { fr: string; en: string } | null;
  assumptions?: { fr: string; en: string }[];
}

type Affected = NonNullable<Report['affected']>[number];

/** The reasons to show first: critical sites, then the assets with the most residents; one line each. */
export function topReasons(report: Report | null, lang: Lang, count = 5): string[] {
  const affected = [...(report?.affected ?? [])].sort(
    (a, b) => Number(b.layer === 'critical_sites') - Number(a.layer === 'critical_sites') || b.residents - a.residents,
  );
  const out: string[] = [];
  for (const asset of affected) {
    const text = inLang(asset.reasons?.[0], lang);
    if (text && !out.includes(text)) out.push(text);
    if (out.length >= count) break;
  }
  return out;
}

interface Point {
  at: LonLat;
  causes: string[];
  critical: boolean;
}

export class IncidentConsequences {
  readonly element = h('section', { id: 'incident-consequences', className: 'consequences', 'aria-live': 'polite' });
  private incidentId: number | null = null;
  private doc: IncidentConsequencesDoc | null = null;
  private points: Point[] = [];
  private serial = 0;
  private pollTimer: ReturnType<typeof setInterval> | null = null;
  private readonly unregister: () => void;

  constructor(
    private readonly t: Translate,
    private readonly overlays: OverlayRegistry,
    private readonly canRecompute: boolean,
  ) {
    this.unregister = ownOverlay(overlays, { id: CONSEQUENCES_OVERLAY, order: 420 }, () => this.layers());
  }

  /** The section for incident `id` (loaded when the incident changes; the same element otherwise). */
  show(id: number): HTMLElement {
    if (this.incidentId !== id) {
      this.incidentId = id;
      this.doc = null;
      this.setPoints([]);
      this.render();
      void this.load();
    }
    return this.element;
  }

  hide(): void {
    this.incidentId = null;
    this.doc = null;
    this.serial += 1;
    this.stopPolling();
    this.setPoints([]);
  }

  /** A live event: reload when it says this incident's consequences changed. */
  onEvent(event: LoggedEvent): void {
    const payload = event.payload as { kind?: string; incident_id?: number };
    if ((event.topic as string) === 'simulation' && payload.kind === 'incident_consequences' && payload.incident_id === this.incidentId) void this.load();
  }

  destroy(): void {
    this.hide();
    this.unregister();
  }

  async load(): Promise<void> {
    const id = this.incidentId;
    if (id === null) return;
    const serial = ++this.serial;
    try {
      const doc = await api<IncidentConsequencesDoc>(`/api/incidents/${id}/consequences`);
      if (serial !== this.serial) return;
      this.doc = doc;
      this.render();
    } catch (error) {
      if (serial !== this.serial) return;
      this.doc = null;
      this.render(error instanceof ApiError && error.status === 404 ? null : error);
    }
    if (this.doc?.status === 'pending') this.startPolling();
    else this.stopPolling();
  }

  private startPolling(): void {
    this.pollTimer ??= setInterval(() => void this.load(), POLL_PENDING_MS);
  }

  private stopPolling(): void {
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = null;
  }

  private async recompute(button: HTMLButtonElement): Promise<void> {
    const id = this.incidentId;
    if (id === null) return;
    button.disabled = true;
    try {
      this.doc = await api<IncidentConsequencesDoc>(`/api/incidents/${id}/consequences`, { method: 'POST' });
      this.serial += 1;
      this.render();
      this.startPolling();
    } catch (error) {
      this.render(error);
    }
  }

  private render(error: unknown = null): void {
    const { t } = this;
    const lang = getLang();
    const d = this.doc;
    clear(this.element);
    const status = d?.status ?? 'none';
    this.element.dataset.status = status;
    this.element.append(h('h4', {}, t('consequences.title')));
    const line = h('p', { id: 'consequences-status', className: status === 'failed' ? 'error' : 'muted' }, t(`consequences.status.${status}` as MessageKey));
    if (status === 'not_applicable' || status === 'failed') {
      const reason = inLang(d?.reason, lang) || d?.error || '';
      if (reason) line.append(' — ', reason);
    } else if (status === 'done' && d?.computed_at) {
      line.append(' ', t('consequences.computedAt', { time: new Date(d.computed_at).toLocaleTimeString(lang === 'fr' ? 'fr-FR' : 'en-GB', { hour: '2-digit', minute: '2-digit' }) }));
    }
    this.element.append(line);
    if (error) this.element.append(h('p', { className: 'error small' }, errorText(t, error)));
    const report = status === 'done' ? d?.report ?? null : null;
    if (report) {
      const sites = report.critical_sites_hit ?? [];
      const reasons = topReasons(report, lang);
      const actions = report.recommended_actions ?? [];
      append(
        this.element,
        report.summary ? h('p', { id: 'consequences-summary' }, inLang(report.summary, lang)) : null,
        h('p', { id: 'consequences-residents', 'data-residents': String(report.residents_hit ?? 0) }, t('consequences.residents', { count: formatNumber(report.residents_hit ?? 0, 0, lang) })),
        h('h5', {}, t('consequences.sites')),
        h(
          'ul',
          { id: 'consequences-sites', className: 'scenario-list' },
          sites.length
            ? sites.map((s) => h('li', { 'data-site': String(s.id) }, h('strong', {}, s.name ?? `${s.kind} ${s.id}`), ' ', h('span', { className: 'muted' }, s.causes.map((c) => causeLabel(t, c)).join(', '))))
            : h('li', { className: 'muted' }, t('consequences.noSites')),
        ),
        d?.assumptions?.length
          ? h('p', { id: 'consequences-assumptions', className: 'muted small' }, t('consequences.assumptions'), ' ', d.assumptions.map((a) => inLang(a, lang)).join(' ; '))
          : null,
        reasons.length ? [h('h5', {}, t('consequences.reasons')), h('ul', { id: 'consequences-reasons', className: 'scenario-list' }, reasons.map((r) => h('li', {}, r)))] : null,
        h('h5', {}, t('consequences.actions')),
        h(
          'ul',
          { id: 'consequences-actions', className: 'scenario-list' },
          actions.length ? actions.map((a) => h('li', { 'data-kind': a.kind }, inLang(a, lang))) : h('li', { className: 'muted' }, t('consequences.noActions')),
        ),
      );
    }
    const buttons = h('div', { className: 'row' });
    if (report?.affected?.length) {
      const showButton = h(
        'button',
        { type: 'button', id: 'consequences-show', className: 'button secondary', 'aria-pressed': String(this.points.length > 0) },
        t('consequences.showOnMap'),
      );
      showButton.addEventListener('click', () => {
        if (this.points.length) {
          this.setPoints([]);
          showButton.setAttribute('aria-pressed', 'false');
        } else {
          showButton.disabled = true;
          void this.drawAssets(report.affected ?? []).finally(() => {
            showButton.disabled = false;
            showButton.setAttribute('aria-pressed', String(this.points.length > 0));
          });
        }
      });
      buttons.append(showButton);
    }
    if (this.canRecompute && this.incidentId !== null) {
      const again = h('button', { type: 'button', id: 'consequences-recompute', className: 'button secondary', disabled: status === 'pending' }, t('consequences.recompute'));
      again.addEventListener('click', () => void this.recompute(again));
      buttons.append(again);
    }
    if (buttons.childNodes.length) this.element.append(buttons);
  }

  /** Place every affected asset (its coordinates, else its stored geometry's centre) and draw them. */
  private async drawAssets(affected: readonly Affected[]): Promise<void> {
    const serial = this.serial;
    // Critical sites first, then the most inhabited: what matters is drawn even when the list is cut.
    const shown = [...affected]
      .sort((a, b) => Number(b.layer === 'critical_sites') - Number(a.layer === 'critical_sites') || b.residents - a.residents)
      .slice(0, MAX_DRAWN);
    const points: Point[] = [];
    let next = 0;
    const worker = async () => {
      while (next < shown.length) {
        const a = shown[next++];
        let at: LonLat | null = Number.isFinite(a.lon) && Number.isFinite(a.lat) ? [a.lon as number, a.lat as number] : null;
        if (!at) {
          const box = geometryBBox((await fetchFeature(a.layer, a.id).catch(() => null))?.geometry ?? null);
          if (box) at = [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2];
        }
        if (at) points.push({ at, causes: a.causes, critical: a.layer === 'critical_sites' });
      }
    };
    await Promise.all(Array.from({ length: 6 }, worker));
    if (serial === this.serial) this.setPoints(points);
  }

  private setPoints(points: Point[]): void {
    this.points = points;
    this.element.dataset.drawn = String(points.length);
    this.overlays.invalidate(CONSEQUENCES_OVERLAY);
  }

  private layers(): Layer[] {
    if (!this.points.length) return [];
    return [
      new ScatterplotLayer<Point>({
        id: `${CONSEQUENCES_OVERLAY}-assets`,
        data: this.points,
        getPosition: (p) => p.at,
        getFillColor: (p) => hexToRgba(causeColour(p.causes), 230),
        getLineColor: [255, 255, 255, 255],
        stroked: true,
        lineWidthUnits: 'pixels',
        getLineWidth: 1,
        radiusUnits: 'pixels',
        getRadius: (p) => (p.critical ? 7 : 4),
      }),
    ];
  }
}

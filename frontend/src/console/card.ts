// The feature card: one OGC item, its attributes under the catalog's titles (French by default).
import { clear, h } from '../core/dom';
import { formatNumber, getLang, type Translate } from '../i18n';
import { fetchFeature, fetchQueryables, type Feature } from './ogc';

export interface CardTarget {
  collection: string;
  collectionTitle: string;
  id: string | number;
}

const HIDDEN_PROPERTIES = new Set(['territory_id']);

export class FeatureCard {
  readonly element: HTMLElement;
  private readonly body: HTMLElement;
  private readonly heading: HTMLElement;
  private serial = 0;
  current: CardTarget | null = null;

  constructor(
    private readonly t: Translate,
    private readonly onShow: (feature: Feature | null) => void,
  ) {
    this.heading = h('h2', { id: 'card-title' }, t('card.title'));
    const close = h('button', { type: 'button', className: 'icon-button', 'aria-label': t('card.close'), onclick: () => this.close() }, '×');
    this.body = h('div', { className: 'card-body' });
    this.element = h(
      'aside',
      {
        className: 'card',
        id: 'feature-card',
        'aria-labelledby': 'card-title',
        hidden: true,
        tabindex: -1,
        onkeydown: (e: Event) => {
          if ((e as KeyboardEvent).key === 'Escape') this.close();
        },
      },
      h('header', { className: 'card-head' }, this.heading, close),
      this.body,
    );
  }

  async open(target: CardTarget): Promise<void> {
    const serial = ++this.serial;
    this.current = target;
    this.element.hidden = false;
    this.element.dataset.collection = target.collection;
    this.element.dataset.featureId = String(target.id);
    this.heading.textContent = target.collectionTitle;
    clear(this.body);
    this.body.appendChild(h('p', { className: 'muted' }, this.t('card.loading')));
    try {
      const [feature, queryables] = await Promise.all([
        fetchFeature(target.collection, target.id),
        fetchQueryables(target.collection).catch(() => ({ properties: {} })),
      ]);
      if (serial !== this.serial) return;
      this.render(target, feature, queryables.properties);
      this.onShow(feature);
    } catch (error) {
      if (serial !== this.serial) return;
      clear(this.body);
      this.body.appendChild(
        h('p', { className: 'error', role: 'alert' }, this.t('card.failed', { detail: (error as Error).message })),
      );
      this.onShow(null);
    }
    this.element.focus();
  }

  close(): void {
    this.serial++;
    this.current = null;
    this.element.hidden = true;
    this.onShow(null);
  }

  private render(
    target: CardTarget,
    feature: Feature,
    titles: Record<string, { title?: string }>,
  ): void {
    clear(this.body);
    const name = feature.properties.name;
    if (typeof name === 'string' && name) this.heading.textContent = name;
    const rows: [string, string][] = [
      [this.t('card.layer'), target.collectionTitle],
      [this.t('card.id'), String(feature.id)],
    ];
    for (const [key, value] of Object.entries(feature.properties)) {
      if (HIDDEN_PROPERTIES.has(key)) continue;
      if (key === 'attributes' && value && typeof value === 'object') {
        for (const [sub, subValue] of Object.entries(value as Record<string, unknown>)) {
          rows.push([sub, this.value(subValue)]);
        }
        continue;
      }
      rows.push([titles[key]?.title ?? key, this.value(value)]);
    }
    const list = h('dl', { className: 'attributes' });
    for (const [label, value] of rows) list.append(h('dt', {}, label), h('dd', {}, value));
    this.body.appendChild(list);
  }

  private value(value: unknown): string {
    if (value === null || value === undefined || value === '') return this.t('card.empty');
    if (typeof value === 'boolean') return value ? this.t('card.yes') : this.t('card.no');
    if (typeof value === 'number') {
      return Number.isInteger(value) ? formatNumber(value, 0, getLang()) : formatNumber(value, 2, getLang());
    }
    if (typeof value === 'object') return JSON.stringify(value);
    return String(value);
  }
}

// Search by street or site name: OGC items with a CQL2 filter, shown as an accessible combobox.
import { clear, h } from '../core/dom';
import type { MessageKey, Translate } from '../i18n';
import { fetchItems, geometryBBox, nameSearchFilter, unionBBox, type Feature } from './ogc';

export interface SearchResult {
  collection: string;
  kind: MessageKey;
  id: string | number;
  label: string;
  detail?: string;
  bbox: [number, number, number, number] | null;
}

/** The searched collections, in result order, with how many features to ask for. */
const SOURCES: { collection: string; kind: MessageKey; limit: number; properties: string }[] = [
  { collection: 'critical_sites', kind: 'search.site', limit: 10, properties: 'name,kind' },
  { collection: 'road_edges', kind: 'search.street', limit: 200, properties: 'name' },
  { collection: 'buildings', kind: 'search.building', limit: 10, properties: 'name' },
];

/** One result per street name (a street is many arcs): their boxes merged, the first arc's id kept. */
export function groupResults(collection: string, kind: MessageKey, features: Feature[], max = 8): SearchResult[] {
  const byName = new Map<string, SearchResult>();
  for (const feature of features) {
    const label = String(feature.properties.name ?? feature.id);
    const key = collection === 'road_edges' ? label.toLocaleLowerCase() : `${label}#${feature.id}`;
    const found = byName.get(key);
    const bbox = geometryBBox(feature.geometry);
    if (found) {
      found.bbox = unionBBox(found.bbox, bbox);
    } else {
      byName.set(key, { collection, kind, id: feature.id, label, bbox });
    }
  }
  return [...byName.values()].slice(0, max);
}

export class SearchBox {
  readonly element: HTMLElement;
  private readonly input: HTMLInputElement;
  private readonly list: HTMLUListElement;
  private readonly status: HTMLElement;
  private results: SearchResult[] = [];
  private activeIndex = -1;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private controller: AbortController | null = null;

  constructor(
    private readonly t: Translate,
    private readonly available: () => Set<string>,
    private readonly onPick: (result: SearchResult) => void,
    /** DOM id of the input (its list is `<id>-results`): several boxes may share a page. */
    private readonly id = 'search',
    label: MessageKey = 'search.label',
  ) {
    this.input = h('input', {
      id,
      type: 'search',
      role: 'combobox',
      autocomplete: 'off',
      'aria-autocomplete': 'list',
      'aria-expanded': 'false',
      'aria-controls': `${id}-results`,
      placeholder: t('search.placeholder'),
      oninput: () => this.schedule(),
      onkeydown: (e: Event) => this.onKey(e as KeyboardEvent),
    });
    this.list = h('ul', { id: `${id}-results`, role: 'listbox', className: 'search-results', hidden: true, 'aria-label': t(label) });
    this.status = h('span', { className: 'visually-hidden', role: 'status', 'aria-live': 'polite' });
    this.element = h(
      'div',
      { className: 'search', role: 'search' },
      h('label', { for: id, className: 'visually-hidden' }, t(label)),
      this.input,
      this.list,
      this.status,
    );
  }

  /** Show `text` in the box without searching (e.g. "point on the map"). */
  setValue(text: string): void {
    this.input.value = text;
    this.show([]);
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.run(), 250);
  }

  private async run(): Promise<void> {
    const query = this.input.value.trim();
    this.controller?.abort();
    if (query.length < 2) {
      this.show([]);
      return;
    }
    const controller = new AbortController();
    this.controller = controller;
    const filter = nameSearchFilter(query);
    const available = this.available();
    try {
      const groups = await Promise.all(
        SOURCES.filter((s) => available.has(s.collection)).map(async (s) => {
          const page = await fetchItems(
            s.collection,
            { filter, limit: String(s.limit), properties: s.properties },
            controller.signal,
          );
          return groupResults(s.collection, s.kind, page.features);
        }),
      );
      if (controller.signal.aborted) return;
      this.show(groups.flat(), query);
    } catch (error) {
      if (controller.signal.aborted) return;
      this.show([]);
      this.status.textContent = this.t('search.failed', { detail: (error as Error).message });
    }
  }

  private show(results: SearchResult[], query = ''): void {
    this.results = results;
    this.activeIndex = -1;
    clear(this.list);
    results.forEach((result, index) => {
      this.list.appendChild(
        h(
          'li',
          {
            id: `${this.id}-option-${index}`,
            role: 'option',
            'aria-selected': 'false',
            'data-collection': result.collection,
            'data-feature-id': String(result.id),
            onmousedown: (e: Event) => {
              e.preventDefault();
              this.pick(index);
            },
          },
          h('span', { className: 'result-kind' }, this.t(result.kind)),
          ' ',
          result.label,
        ),
      );
    });
    if (query && !results.length) {
      this.list.appendChild(h('li', { className: 'muted', role: 'presentation' }, this.t('search.none', { query })));
    }
    const open = Boolean(query);
    this.list.hidden = !open;
    this.input.setAttribute('aria-expanded', String(open && results.length > 0));
    this.input.removeAttribute('aria-activedescendant');
    this.status.textContent = query ? this.t('search.results', { count: results.length }) : '';
  }

  private onKey(event: KeyboardEvent): void {
    if (event.key === 'Escape') {
      this.input.value = '';
      this.show([]);
      return;
    }
    if (!this.results.length) return;
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      const step = event.key === 'ArrowDown' ? 1 : -1;
      this.activeIndex = (this.activeIndex + step + this.results.length) % this.results.length;
      this.list.querySelectorAll('[role=option]').forEach((el, i) => el.setAttribute('aria-selected', String(i === this.activeIndex)));
      this.input.setAttribute('aria-activedescendant', `${this.id}-option-${this.activeIndex}`);
    } else if (event.key === 'Enter') {
      event.preventDefault();
      this.pick(Math.max(0, this.activeIndex));
    }
  }

  private pick(index: number): void {
    const result = this.results[index];
    if (!result) return;
    this.input.value = result.label;
    this.show([]);
    this.onPick(result);
  }
}

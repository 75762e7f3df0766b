// The console's own panels: layers (from the catalog), legend (from the style's metadata), and the
// administrators' accounts tool. They use the same registry as every later feature.
import { api } from '../core/api';
import { clear, h } from '../core/dom';
import type { PanelRegistry } from '../panels/registry';
import type { MapCore } from './mapcore';
import type { Collection } from './ogc';
// The scenarios panel registers itself on import (like the features view.ts imports).
import '../scenarios/panel';

export interface BuiltinContext {
  core: MapCore;
  collections: () => Collection[];
}

/** A legend swatch colour from a style layer's paint (the fallback value of a `match`, or the colour). */
export function swatchColour(paint: unknown): string | null {
  if (typeof paint === 'string') return paint;
  if (Array.isArray(paint) && paint.length) return swatchColour(paint[paint.length - 1]);
  return null;
}

const PAINT_PROP = {
  fill: 'fill-color',
  line: 'line-color',
  circle: 'circle-color',
  'fill-extrusion': 'fill-extrusion-color',
} as const;

export function registerBuiltinPanels(registry: PanelRegistry, ctx: BuiltinContext): void {
  registry.register({
    id: 'layers',
    title: 'panel.layers',
    order: 10,
    mount(container, { t }) {
      const render = () => {
        clear(container);
        const drawn = new Map(ctx.core.legend().map((e) => [e['source-layer'], e]));
        const list = h('ul', { className: 'layer-list' });
        for (const collection of ctx.collections()) {
          const id = `layer-${collection.id}`;
          const entry = drawn.get(collection.id);
          const box = h('input', {
            type: 'checkbox',
            id,
            'data-collection': collection.id,
            checked: Boolean(entry) && ctx.core.isLayerVisible(collection.id),
            disabled: !entry,
            onchange: (e: Event) => ctx.core.setLayerVisible(collection.id, (e.target as HTMLInputElement).checked),
          });
          list.appendChild(
            h('li', {}, box, h('label', { for: id }, collection.title, entry ? '' : ` ${t('layers.notDrawn')}`)),
          );
        }
        container.append(
          h('p', { className: 'muted' }, t('layers.intro')),
          ctx.collections().length ? list : h('p', {}, t('layers.empty')),
        );
      };
      render();
      return ctx.core.onChange(render);
    },
  });

  registry.register({
    id: 'legend',
    title: 'panel.legend',
    order: 20,
    mount(container, { t, map }) {
      const render = () => {
        clear(container);
        const legend = ctx.core.legend().filter((e) => ctx.core.isLayerVisible(e['source-layer']));
        const list = h('ul', { className: 'legend' });
        for (const entry of legend) {
          const colour = entry.layers
            .map((id) => map.getLayer(id))
            .map((layer) => {
              const prop = layer ? PAINT_PROP[layer.type as keyof typeof PAINT_PROP] : undefined;
              return layer && prop ? swatchColour(map.getPaintProperty(layer.id, prop)) : null;
            })
            .find(Boolean);
          const swatch = h('span', { className: 'swatch', 'aria-hidden': 'true' });
          if (colour) swatch.style.backgroundColor = colour;
          list.appendChild(h('li', {}, swatch, entry.title));
        }
        container.appendChild(legend.length ? list : h('p', {}, t('legend.empty')));
        const kinds = ctx.core.metadata['hyperviseur:site-kinds'] ?? [];
        if (kinds.length && ctx.core.isLayerVisible('critical_sites')) {
          const sites = h('ul', { className: 'legend' });
          for (const kind of kinds) {
            const icon = h('span', { className: 'sprite', 'aria-hidden': 'true', 'data-icon': kind.icon });
            placeSprite(icon, kind.icon);
            sites.appendChild(h('li', {}, icon, kind.title));
          }
          container.append(h('h3', {}, t('legend.siteKinds')), sites);
        }
      };
      render();
      return ctx.core.onChange(render);
    },
  });

  registry.register({
    id: 'accounts',
    title: 'panel.accounts',
    order: 900,
    roles: ['admin'],
    mount(container, { t }) {
      container.appendChild(h('p', { className: 'muted' }, t('accounts.intro')));
      void api<{ accounts: { username: string; role: string; disabled: boolean }[] }>('/api/accounts')
        .then(({ accounts }) => {
          const rows = accounts.map((a) =>
            h('tr', {}, h('td', {}, a.username), h('td', {}, a.role), h('td', {}, a.disabled ? t('accounts.disabled') : t('accounts.active'))),
          );
          container.appendChild(
            h(
              'table',
              { className: 'accounts' },
              h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, t('accounts.name')), h('th', { scope: 'col' }, t('accounts.role')), h('th', { scope: 'col' }, t('accounts.state')))),
              h('tbody', {}, rows),
            ),
          );
        })
        .catch((error: Error) => container.appendChild(h('p', { className: 'error' }, t('error.generic', { detail: error.message }))));
    },
  });
}

let spriteIndex: Promise<Record<string, { x: number; y: number; width: number; height: number }>> | null = null;

/** Draw one pictogram of our sprite sheet (/tiles/sprites) in `el`, through CSSOM (the CSP allows it). */
function placeSprite(el: HTMLElement, icon: string): void {
  spriteIndex ??= fetch('/tiles/sprites/sprite.json', { credentials: 'same-origin' }).then((r) => r.json());
  void spriteIndex.then((index) => {
    const entry = index[icon];
    if (!entry) return;
    el.style.width = `${entry.width}px`;
    el.style.height = `${entry.height}px`;
    el.style.backgroundImage = 'url("/tiles/sprites/sprite.png")';
    el.style.backgroundPosition = `-${entry.x}px -${entry.y}px`;
  });
}

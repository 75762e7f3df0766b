// Renders the registered panels as an accessible tab list (arrow keys, Home/End) in the side bar.
import type { Role } from '../core/api';
import { clear, h } from '../core/dom';
import type { Translate } from '../i18n';
import type { PanelContext, PanelDefinition, PanelRegistry } from './registry';

export class PanelHost {
  readonly element: HTMLElement;
  private readonly tabs: HTMLElement;
  private readonly bodies: HTMLElement;
  private readonly cleanups = new Map<string, () => void>();
  private active: string | null = null;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly registry: PanelRegistry,
    private readonly role: Role,
    private readonly t: Translate,
    private readonly context: PanelContext,
  ) {
    this.tabs = h('div', { role: 'tablist', 'aria-label': t('panels.label'), className: 'panel-tabs' });
    this.bodies = h('div', { className: 'panel-bodies' });
    this.element = h('nav', { className: 'side', 'aria-label': t('panels.label') }, this.tabs, this.bodies);
    this.unsubscribe = registry.onChange(() => this.render());
    this.render();
  }

  private render(): void {
    const visible = this.registry.forRole(this.role);
    for (const [id, cleanup] of this.cleanups) {
      if (!visible.some((p) => p.id === id)) {
        cleanup();
        this.cleanups.delete(id);
      }
    }
    clear(this.tabs);
    clear(this.bodies);
    if (!visible.some((p) => p.id === this.active)) this.active = visible[0]?.id ?? null;
    for (const panel of visible) this.renderPanel(panel);
  }

  private renderPanel(panel: PanelDefinition): void {
    const selected = panel.id === this.active;
    const tab = h(
      'button',
      {
        type: 'button',
        role: 'tab',
        id: `tab-${panel.id}`,
        'aria-controls': `panel-${panel.id}`,
        'aria-selected': String(selected),
        tabindex: selected ? 0 : -1,
        'data-panel': panel.id,
        onclick: () => this.select(panel.id),
        onkeydown: (event: Event) => this.onKey(event as KeyboardEvent),
      },
      this.t(panel.title),
    );
    const body = h('section', {
      role: 'tabpanel',
      id: `panel-${panel.id}`,
      'aria-labelledby': `tab-${panel.id}`,
      className: 'panel',
      hidden: !selected,
      tabindex: 0,
    });
    this.tabs.appendChild(tab);
    this.bodies.appendChild(body);
    const cleanup = panel.mount(body, this.context);
    this.cleanups.get(panel.id)?.();
    if (cleanup) this.cleanups.set(panel.id, cleanup);
  }

  select(id: string, focus = false): void {
    this.active = id;
    for (const tab of this.tabs.querySelectorAll<HTMLElement>('[role=tab]')) {
      const on = tab.dataset.panel === id;
      tab.setAttribute('aria-selected', String(on));
      tab.tabIndex = on ? 0 : -1;
      if (on && focus) tab.focus();
    }
    for (const body of this.bodies.querySelectorAll<HTMLElement>('[role=tabpanel]')) {
      body.hidden = body.id !== `panel-${id}`;
    }
  }

  private onKey(event: KeyboardEvent): void {
    const ids = [...this.tabs.querySelectorAll<HTMLElement>('[role=tab]')].map((tab) => tab.dataset.panel ?? '');
    const index = ids.indexOf(this.active ?? '');
    const moves: Record<string, number> = {
      ArrowRight: index + 1,
      ArrowDown: index + 1,
      ArrowLeft: index - 1,
      ArrowUp: index - 1,
      Home: 0,
      End: ids.length - 1,
    };
    if (!(event.key in moves)) return;
    event.preventDefault();
    const next = (moves[event.key] + ids.length) % ids.length;
    this.select(ids[next], true);
  }

  destroy(): void {
    this.unsubscribe();
    for (const cleanup of this.cleanups.values()) cleanup();
    this.cleanups.clear();
  }
}

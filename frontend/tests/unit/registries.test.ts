import { describe, expect, it, vi } from 'vitest';
import { PanelRegistry, type PanelDefinition } from '../../src/panels/registry';
import { OverlayRegistry } from '../../src/overlays/registry';

const panel = (id: string, extra: Partial<PanelDefinition> = {}): PanelDefinition => ({
  id,
  title: 'panel.layers',
  mount: () => undefined,
  ...extra,
});

describe('panel registry', () => {
  it('orders panels and filters them by role', () => {
    const reg = new PanelRegistry();
    reg.register(panel('incidents', { order: 100 }));
    reg.register(panel('layers', { order: 10 }));
    reg.register(panel('accounts', { order: 900, roles: ['admin'] }));
    reg.register(panel('alerts', { order: 100 }));
    expect(reg.forRole('operator').map((p) => p.id)).toEqual(['layers', 'alerts', 'incidents']);
    expect(reg.forRole('admin').map((p) => p.id)).toEqual(['layers', 'alerts', 'incidents', 'accounts']);
  });

  it('refuses duplicate and malformed ids, and tells listeners about changes', () => {
    const reg = new PanelRegistry();
    const listener = vi.fn();
    reg.onChange(listener);
    const remove = reg.register(panel('crews'));
    expect(() => reg.register(panel('crews'))).toThrow(/already registered/);
    expect(() => reg.register(panel('Bad Id'))).toThrow(/panel id/);
    remove();
    expect(reg.forRole('operator')).toEqual([]);
    expect(listener).toHaveBeenCalledTimes(2);
  });
});

describe('overlay registry', () => {
  const fakeLayer = (id: string) => ({ id }) as never;

  it('composes visible overlays in order, for the role', () => {
    const reg = new OverlayRegistry();
    reg.register({ id: 'routes', order: 20, layers: () => [fakeLayer('routes-a'), fakeLayer('routes-b')] });
    reg.register({ id: 'isochrones', order: 10, layers: () => [fakeLayer('iso')] });
    reg.register({ id: 'water', order: 5, roles: ['planner'], layers: () => [fakeLayer('water')] });
    expect(reg.compose('operator').map((l: { id: string }) => l.id)).toEqual(['iso', 'routes-a', 'routes-b']);
    expect(reg.compose('planner').map((l: { id: string }) => l.id)).toEqual(['water', 'iso', 'routes-a', 'routes-b']);
    reg.setVisible('routes', false);
    expect(reg.compose('operator').map((l: { id: string }) => l.id)).toEqual(['iso']);
    expect(reg.isVisible('routes')).toBe(false);
  });

  it('notifies on invalidate, toggle and removal only when something changed', () => {
    const reg = new OverlayRegistry();
    const listener = vi.fn();
    reg.register({ id: 'crews', visible: false, layers: () => [] });
    reg.onChange(listener);
    reg.invalidate('crews');
    reg.invalidate('unknown');
    reg.setVisible('crews', false);
    reg.setVisible('crews', true);
    reg.unregister('crews');
    expect(listener).toHaveBeenCalledTimes(3);
    expect(reg.ids()).toEqual([]);
  });
});

// The parts of the page header every view shares: language switch and the signed-in user with sign-out.
import { signOut, type Me } from './api';
import { h } from './dom';
import { getLang, LANGS, setLang, t, type Lang, type MessageKey } from '../i18n';

export function languageSwitch(onChange: () => void): HTMLElement {
  const select = h(
    'select',
    {
      id: 'lang',
      onchange: (e: Event) => {
        setLang((e.target as HTMLSelectElement).value as Lang);
        onChange();
      },
    },
    LANGS.map((lang) => h('option', { value: lang, selected: lang === getLang() }, t(`lang.${lang}` as MessageKey))),
  );
  return h('span', { className: 'lang' }, h('label', { for: 'lang', className: 'visually-hidden' }, t('lang.label')), select);
}

export function userBox(me: Me, onSignedOut: () => void): HTMLElement {
  return h(
    'div',
    { className: 'user', 'data-role': me.role },
    h('span', { className: 'user-name' }, me.username),
    h('span', { className: 'user-role' }, t('user.role', { role: t(`role.${me.role}` as MessageKey) })),
    h(
      'button',
      {
        type: 'button',
        id: 'sign-out',
        className: 'button secondary',
        onclick: async () => {
          await signOut().catch(() => undefined);
          onSignedOut();
        },
      },
      t('user.signOut'),
    ),
  );
}

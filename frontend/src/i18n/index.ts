// Message lookup with {placeholders}, French by default, English on request; the choice is remembered.
import { en } from './en';
import { fr, type MessageKey } from './fr';

export type Lang = 'fr' | 'en';
export type { MessageKey };
export type Params = Record<string, string | number>;
export type Translate = (key: MessageKey, params?: Params) => string;

export const LANGS: readonly Lang[] = ['fr', 'en'];
const CATALOGS: Record<Lang, Record<MessageKey, string>> = { fr, en };
const STORAGE_KEY = 'hyperviseur.lang';

let current: Lang = 'fr';

/** Replace each `{name}` of `template` by `params[name]`; unknown names stay visible (a bug to notice). */
export function format(template: string, params: Params = {}): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) =>
    name in params ? String(params[name]) : whole,
  );
}

/** The message `key` in `lang`, falling back to French, then to the key itself. */
export function translate(lang: Lang, key: MessageKey, params?: Params): string {
  const template = CATALOGS[lang][key] ?? fr[key] ?? key;
  return format(template, params);
}

export const t: Translate = (key, params) => translate(current, key, params);

export function getLang(): Lang {
  return current;
}

export function setLang(lang: Lang): void {
  current = lang;
  try {
    localStorage.setItem(STORAGE_KEY, lang);
  } catch {
    // Private mode or storage disabled: the choice lasts for this page only.
  }
  if (typeof document !== 'undefined') document.documentElement.lang = lang;
}

/** The remembered language, else French: the console is French first, whatever the browser says. */
export function initialLang(stored: string | null): Lang {
  return stored === 'en' ? 'en' : 'fr';
}

export function loadLang(): Lang {
  let stored: string | null = null;
  try {
    stored = localStorage.getItem(STORAGE_KEY);
  } catch {
    stored = null;
  }
  setLang(initialLang(stored));
  return current;
}

/** Keys present in one catalog and missing in the other (empty when the catalogs agree). */
export function missingKeys(): { fr: string[]; en: string[] } {
  const frKeys = Object.keys(fr);
  const enKeys = Object.keys(en);
  return {
    fr: enKeys.filter((k) => !frKeys.includes(k)),
    en: frKeys.filter((k) => !enKeys.includes(k)),
  };
}

/** Number formatting in the UI language (French: comma decimals, narrow no-break space thousands). */
export function formatNumber(value: number, digits: number, lang: Lang = current): string {
  return new Intl.NumberFormat(lang === 'fr' ? 'fr-FR' : 'en-GB', {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  }).format(value);
}

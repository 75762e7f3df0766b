import { describe, expect, it } from 'vitest';
import { en } from '../../src/i18n/en';
import { fr } from '../../src/i18n/fr';
import { format, initialLang, missingKeys, translate, formatNumber } from '../../src/i18n';

describe('i18n', () => {
  it('has the same keys in French and English', () => {
    expect(missingKeys()).toEqual({ fr: [], en: [] });
  });

  it('fills placeholders and leaves unknown ones visible', () => {
    expect(format('Zoom {zoom}', { zoom: 15 })).toBe('Zoom 15');
    expect(format('{a} et {b}', { a: 1 })).toBe('1 et {b}');
  });

  it('translates in the asked language', () => {
    expect(translate('fr', 'signin.submit')).toBe('Se connecter');
    expect(translate('en', 'signin.submit')).toBe('Sign in');
    expect(translate('fr', 'signin.locked', { seconds: 4 })).toBe('Trop de tentatives : réessayez dans 4 s.');
  });

  it('is French first: only a stored "en" switches to English', () => {
    expect(initialLang(null)).toBe('fr');
    expect(initialLang('de')).toBe('fr');
    expect(initialLang('en')).toBe('en');
  });

  it('uses the same placeholders in both languages', () => {
    const names = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    for (const key of Object.keys(fr) as (keyof typeof fr)[]) {
      expect(names(en[key]), key).toEqual(names(fr[key]));
    }
  });

  it('formats numbers the French way', () => {
    // Intl uses a narrow no-break space (U+202F) for French thousands.
    expect(formatNumber(1044123.44, 1, 'fr').replace(/\s/g, ' ')).toBe('1 044 123,4');
    expect(formatNumber(1044123.44, 1, 'en')).toBe('1,044,123.4');
  });

  it('has no empty message', () => {
    for (const [key, value] of [...Object.entries(fr), ...Object.entries(en)]) expect(value.trim(), key).not.toBe('');
  });
});

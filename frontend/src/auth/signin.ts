// The sign-in page: name and password, then the TOTP code when the server asks for it; enrolment of a
// second factor for admin/operator accounts that have none yet.
import { api, ApiError, needsTotp, signIn, type Role } from '../core/api';
import { languageSwitch } from '../core/chrome';
import { h } from '../core/dom';
import { t, type MessageKey } from '../i18n';

export interface SignInHooks {
  signedIn(role: Role): void;
  rerender(): void;
}

/** The message to show on arrival (`?raison=expiree` after a lost session, `deconnexion` after sign-out). */
export function arrivalMessage(reason: string | null): MessageKey | null {
  if (reason === 'expiree') return 'signin.expired';
  if (reason === 'deconnexion') return 'signin.signedOut';
  return null;
}

export function mountSignIn(root: HTMLElement, hooks: SignInHooks): () => void {
  const reason = arrivalMessage(new URLSearchParams(location.search).get('raison'));
  const message = h('p', { id: 'signin-message', className: 'message', role: 'alert' }, reason ? t(reason) : '');
  const username = h('input', { id: 'username', name: 'username', autocomplete: 'username', required: true, autofocus: true });
  const password = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const totp = h('input', {
    id: 'totp',
    name: 'totp',
    inputmode: 'numeric',
    autocomplete: 'one-time-code',
    pattern: '[0-9]{6}',
    maxlength: 6,
    'aria-describedby': 'totp-hint',
  });
  const totpRow = h(
    'div',
    { className: 'field', id: 'totp-field', hidden: true },
    h('label', { for: 'totp' }, t('signin.totp')),
    totp,
    h('small', { id: 'totp-hint', className: 'muted' }, t('signin.totpHint')),
  );
  const submit = h('button', { type: 'submit', className: 'button', id: 'signin-submit' }, t('signin.submit'));
  const enrolment = h('div', { id: 'enrolment', hidden: true });
  const form = h(
    'form',
    { className: 'signin-form', novalidate: false, 'aria-labelledby': 'signin-title' },
    h('div', { className: 'field' }, h('label', { for: 'username' }, t('signin.username')), username),
    h('div', { className: 'field' }, h('label', { for: 'password' }, t('signin.password')), password),
    totpRow,
    submit,
  );
  const setMessage = (text: string, kind: 'error' | 'info' = 'error') => {
    message.textContent = text;
    message.className = `message ${kind}`;
  };

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    submit.textContent = t('signin.pending');
    try {
      const answer = await signIn(username.value, password.value, totpRow.hidden ? undefined : totp.value);
      if (answer.scope === 'enroll_totp') {
        await startEnrolment(enrolment, setMessage);
        return;
      }
      hooks.signedIn(answer.role);
    } catch (error) {
      if (needsTotp(error) && totpRow.hidden) {
        totpRow.hidden = false;
        totp.required = true;
        setMessage(t('signin.totpRequired'), 'info');
        totp.focus();
      } else if (error instanceof ApiError && error.status === 429) {
        setMessage(t('signin.locked', { seconds: error.retryAfterS ?? 1 }));
      } else if (error instanceof ApiError && error.status < 500) {
        setMessage(t('signin.failed'));
        password.value = '';
        totp.value = '';
        password.focus();
      } else {
        setMessage(t('signin.error'));
      }
    } finally {
      submit.disabled = false;
      submit.textContent = t('signin.submit');
    }
  });

  root.replaceChildren(
    h(
      'div',
      { className: 'signin-page' },
      h(
        'main',
        { className: 'signin-card', id: 'main' },
        h('div', { className: 'signin-top' }, h('span', { className: 'brand' }, t('app.title')), languageSwitch(hooks.rerender)),
        h('h1', { id: 'signin-title' }, t('signin.title')),
        h('p', { className: 'muted' }, t('signin.intro')),
        message,
        form,
        enrolment,
      ),
    ),
  );
  username.focus();
  return () => undefined;
}

async function startEnrolment(container: HTMLElement, setMessage: (text: string, kind?: 'error' | 'info') => void): Promise<void> {
  const { otpauth_uri: uri } = await api<{ otpauth_uri: string }>('/api/auth/totp/setup', { method: 'POST', expectUnauthorized: true });
  const code = h('input', { id: 'enrol-code', inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: 6, required: true });
  const confirm = h('form', { className: 'signin-form' },
    h('div', { className: 'field' }, h('label', { for: 'enrol-code' }, t('signin.totp')), code),
    h('button', { type: 'submit', className: 'button' }, t('signin.enrolConfirm')),
  );
  confirm.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await api('/api/auth/totp/confirm', { method: 'POST', body: { code: code.value }, expectUnauthorized: true });
      container.hidden = true;
      setMessage(t('signin.enrolDone'), 'info');
    } catch (error) {
      setMessage(t('error.generic', { detail: (error as Error).message }));
    }
  });
  container.replaceChildren(
    h('p', {}, t('signin.enrolUri')),
    h('input', { readonly: true, value: uri, className: 'uri', 'aria-label': 'otpauth' }),
    confirm,
  );
  container.hidden = false;
  setMessage(t('signin.enrol'), 'info');
}

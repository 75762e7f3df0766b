// The console's router: /connexion (sign-in), /equipe (crew view), everything else the operator console.
import { fetchMe, setUnauthorizedHandler, type Me, type Role } from './core/api';
import { h } from './core/dom';
import { loadLang, t } from './i18n';
import { mountSignIn } from './auth/signin';
import { mountConsole, type ViewHooks } from './console/view';
import { mountCrew } from './crew/view';

export const SIGN_IN = '/connexion';
export const CREW = '/equipe';

let teardown: (() => void) | null = null;
let rendering = 0;
let signedIn = false;

/** Where a role lands after signing in, unless it came from another page (`?suite=`). */
export function landingFor(role: Role, next: string | null): string {
  // `/` is where everyone arrives by default: no preference, the role decides.
  if (next && next !== '/' && next.startsWith('/') && !next.startsWith('//') && !next.startsWith(SIGN_IN)) return next;
  return role === 'crew' ? CREW : '/';
}

function navigate(path: string, replace = false): void {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  void render();
}

function sessionLost(): void {
  if (!signedIn) return;
  signedIn = false;
  const here = location.pathname;
  navigate(`${SIGN_IN}?raison=expiree&suite=${encodeURIComponent(here)}`, true);
}

const hooks: ViewHooks = {
  navigate,
  rerender: () => void render(),
  signedOut: () => {
    signedIn = false;
    navigate(`${SIGN_IN}?raison=deconnexion`, true);
  },
  sessionLost,
};

async function render(): Promise<void> {
  const serial = ++rendering;
  teardown?.();
  teardown = null;
  const root = document.getElementById('app') as HTMLElement;
  document.title = t('app.title');
  if (location.pathname === SIGN_IN) {
    teardown = mountSignIn(root, {
      rerender: () => void render(),
      signedIn: (role) => {
        signedIn = true;
        navigate(landingFor(role, new URLSearchParams(location.search).get('suite')), true);
      },
    });
    return;
  }
  root.replaceChildren(h('p', { className: 'loading' }, t('app.loading')));
  let me: Me | null = null;
  try {
    me = await fetchMe();
  } catch {
    me = null;
  }
  if (serial !== rendering) return;
  if (!me || me.scope !== 'full') {
    navigate(`${SIGN_IN}?suite=${encodeURIComponent(location.pathname + location.search)}`, true);
    return;
  }
  signedIn = true;
  const view = location.pathname === CREW ? mountCrew(root, me, hooks) : await mountConsole(root, me, hooks);
  if (serial !== rendering) {
    view();
    return;
  }
  teardown = view;
}

export function boot(): void {
  loadLang();
  setUnauthorizedHandler(sessionLost);
  window.addEventListener('popstate', () => void render());
  void render();
}

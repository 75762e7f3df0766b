// Calls to our own server (same origin, session cookie). A 401 anywhere but on sign-in means the session is
// gone: the handler set by the app sends the user back to the sign-in page with a message.
import { getLang } from '../i18n';

export type Role = 'admin' | 'operator' | 'planner' | 'crew' | 'gis_editor' | 'analyst' | 'anonymous';

export interface Me {
  username: string;
  role: Role;
  scope: string;
  method?: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly retryAfterS: number | null = null,
  ) {
    super(detail);
  }
}

let onUnauthorized: (() => void) | null = null;

/** What to do when the server says the session is no longer valid (set once by the app). */
export function setUnauthorizedHandler(handler: (() => void) | null): void {
  onUnauthorized = handler;
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  /** Sign-in answers 401 for a wrong password: that is not an expired session. */
  expectUnauthorized?: boolean;
  signal?: AbortSignal;
}

export async function request(path: string, options: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { Accept: 'application/json', 'Accept-Language': getLang() };
  let body: string | undefined;
  if (options.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(options.body);
  }
  const response = await fetch(path, {
    method: options.method ?? 'GET',
    headers,
    body,
    credentials: 'same-origin',
    signal: options.signal,
  });
  if (response.status === 401 && !options.expectUnauthorized && onUnauthorized) onUnauthorized();
  return response;
}

async function errorOf(response: Response): Promise<ApiError> {
  let detail = response.statusText || String(response.status);
  try {
    const problem = (await response.json()) as { detail?: string };
    if (problem.detail) detail = problem.detail;
  } catch {
    // Not a problem document: keep the status text.
  }
  const retry = response.headers.get('retry-after');
  return new ApiError(response.status, detail, retry === null ? null : Number(retry));
}

/** GET/POST returning JSON; a non-2xx answer raises ApiError with the server's `detail`. */
export async function api<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const response = await request(path, options);
  if (!response.ok) throw await errorOf(response);
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

/** The signed-in account, or null when the session is missing or expired. */
export async function fetchMe(): Promise<Me | null> {
  const response = await request('/api/auth/me', { expectUnauthorized: true });
  if (response.status === 401) return null;
  if (!response.ok) throw await errorOf(response);
  return (await response.json()) as Me;
}

export interface SignInAnswer {
  token: string;
  expires_at: string;
  username: string;
  role: Role;
  scope: string;
}

export async function signIn(username: string, password: string, totpCode?: string): Promise<SignInAnswer> {
  const body: Record<string, string> = { username, password };
  if (totpCode) body.totp_code = totpCode;
  return api<SignInAnswer>('/api/auth/sign-in', { method: 'POST', body, expectUnauthorized: true });
}

export async function signOut(): Promise<void> {
  await request('/api/auth/sign-out', { method: 'POST', expectUnauthorized: true });
}

/** The server asks for a TOTP code (the 401 of a sign-in without `totp_code` names the field). */
export function needsTotp(error: unknown): boolean {
  return error instanceof ApiError && error.status === 401 && /totp_code/i.test(error.detail);
}

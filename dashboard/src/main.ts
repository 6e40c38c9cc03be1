// The command centre's screen: sign in with a desk token, then the overview (map + queue), a case, the
// supervision board and the assessment, all following the token's role and scope.

import './style.css';
import { ApiError, api, getToken, setToken, setUnauthorizedHandler } from './api';
import { h, mount, toast } from './dom';
import { getLang, roleLabel, setLang, setWorkflow, t } from './i18n';
import { connect, disconnect } from './live';
import { session } from './state';
import { renderOverview } from './views/overview';
import { renderCase } from './views/case';
import { renderSupervision } from './views/supervision';
import { renderAssessment } from './views/assessment';
import { renderAudit } from './views/audit';

const root = document.getElementById('app')!;
let cleanup: (() => void) | null = null;
let liveUp = false;

setLang(getLang());
setUnauthorizedHandler(() => signOut());

function signOut(): void {
  setToken(null);
  session.me = null;
  session.notices = [];
  disconnect();
  location.hash = '#/';
  render();
}

async function signIn(token: string): Promise<string | null> {
  try {
    session.me = await api.me(token);
  } catch (e) {
    if (e instanceof ApiError) return e.status === 0 ? t('err_network') : e.message;
    return String(e);
  }
  setToken(token);
  try {
    // Every stage, action and role label on screen is the core's: loaded before the first view.
    setWorkflow(await api.workflow());
  } catch (e) {
    setToken(null);
    session.me = null;
    if (e instanceof ApiError) return e.status === 0 ? t('err_network') : e.message;
    return String(e);
  }
  void loadNotices();
  connect(token, (up) => {
    liveUp = up;
    const dot = document.getElementById('live');
    if (dot) {
      dot.className = up ? 'live on' : 'live off';
      dot.textContent = up ? t('live_on') : t('live_off');
    }
  }, () => {
    // The admin revoked or rotated this desk's token: nothing it shows may stay on screen.
    signOut();
    toast(t('token_revoked'), 'error');
  });
  return null;
}

/** Configuration that will make results wrong soon (e.g. next year's holidays missing): a banner for everyone. */
async function loadNotices(): Promise<void> {
  try {
    session.notices = await api.notices();
  } catch {
    return; // not worth an error toast: the banner is advisory
  }
  const bar = document.getElementById('notices');
  if (bar) bar.replaceWith(noticesBar());
}

function noticesBar(): HTMLElement {
  const lang = getLang();
  return h(
    'div#notices',
    { class: session.notices.length ? 'notices' : 'notices empty', role: 'status' },
    session.notices.map((n) => h('p', { 'data-code': n.code }, h('strong', `${t('notice')}: `), lang === 'zh' ? n.message_zh : n.message_en)),
  );
}

function signInScreen(): HTMLElement {
  const input = h('input#token', { type: 'password', autocomplete: 'off', spellcheck: false, placeholder: 'gpk_…', 'aria-describedby': 'token-error' });
  const error = h('div.field-error#token-error', { role: 'alert' });
  const button = h('button.primary', { type: 'submit' }, t('sign_in'));
  const form = h(
    'form.signin-card',
    {
      onsubmit: async (e: Event) => {
        e.preventDefault();
        const token = input.value.trim();
        error.textContent = '';
        if (!token) return void (error.textContent = t('token_empty'));
        if (!token.startsWith('gpk_')) return void (error.textContent = t('token_format'));
        button.disabled = true;
        button.textContent = t('signing_in');
        const err = await signIn(token);
        button.disabled = false;
        button.textContent = t('sign_in');
        if (err) error.textContent = err;
        else render();
      },
    },
    h('h1', t('app_title')),
    h('p.sub', t('app_sub')),
    h('label', { for: 'token' }, t('token')),
    input,
    error,
    h('p.hint', t('token_hint')),
    button,
    h('button.link', { type: 'button', onclick: () => toggleLang() }, t('lang_switch')),
  );
  setTimeout(() => input.focus());
  return h('div.signin', form);
}

function toggleLang(): void {
  setLang(getLang() === 'zh' ? 'en' : 'zh');
  render();
}

function shell(active: string): { el: HTMLElement; main: HTMLElement } {
  const me = session.me!;
  const nav = (href: string, key: 'nav_overview' | 'nav_supervision' | 'nav_assessment' | 'nav_audit', id: string) =>
    h('a', { href, class: active === id ? 'active' : '', 'data-nav': id }, t(key));
  const main = h('main#main');
  const el = h(
    'div.shell',
    h(
      'header.topbar',
      h('div.brand', h('span.logo', '网'), h('span', t('app_title'))),
      h('nav', nav('#/', 'nav_overview', 'overview'), nav('#/supervision', 'nav_supervision', 'supervision'), nav('#/assessment', 'nav_assessment', 'assessment'), me.role === 'supervisor' ? nav('#/audit', 'nav_audit', 'audit') : null),
      h('div.spacer'),
      h('span#live', { class: liveUp ? 'live on' : 'live off' }, liveUp ? t('live_on') : t('live_off')),
      h('span.who', { 'data-role': me.role }, `${roleLabel(me.role)}${me.department ? ` · ${me.department}` : ''} · ${me.id}`, h('span.scope', `${t('scope')} ${me.scope}`)),
      h('button.ghost#lang', { onclick: toggleLang }, t('lang_switch')),
      h('button.ghost#signout', { onclick: signOut }, t('sign_out')),
    ),
    noticesBar(),
    main,
  );
  return { el, main };
}

function render(): void {
  cleanup?.();
  cleanup = null;
  if (!session.me) {
    mount(root, signInScreen());
    return;
  }
  const hash = location.hash || '#/';
  const caseMatch = hash.match(/^#\/case\/([0-9a-fA-F-]{36})/);
  const view = caseMatch ? 'overview' : hash.startsWith('#/supervision') ? 'supervision' : hash.startsWith('#/assessment') ? 'assessment' : hash.startsWith('#/audit') ? 'audit' : 'overview';
  const { el, main } = shell(view);
  mount(root, el);
  if (caseMatch) cleanup = renderCase(main, caseMatch[1]);
  else if (view === 'supervision') cleanup = renderSupervision(main);
  else if (view === 'assessment') cleanup = renderAssessment(main);
  else if (view === 'audit') cleanup = renderAudit(main);
  else cleanup = renderOverview(main);
}

window.addEventListener('hashchange', render);

async function boot(): Promise<void> {
  const token = getToken();
  if (token) {
    const err = await signIn(token);
    if (err) setToken(null);
  }
  render();
}

void boot();

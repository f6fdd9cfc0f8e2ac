// 登录 / 退出: the session of the viewer. Anonymous users read only; a logged-in 编辑 (editor) or 管理 (admin) may
// edit the layers the server allows. The session lives in an HttpOnly cookie set by the server; the page keeps only
// the CSRF token it sends back with every write, and `store.get('user')` = {user, role, layers, csrf} or null.

import { login, logout, whoAmI, setCsrfToken } from './api.js';
import { store } from './store.js';
import { $, h, setStatus } from './util.js';

export const ROLE_ZH = { viewer: '查看', editor: '编辑', admin: '管理' };

/** Whether `session` may edit layer `layerId`: admins every layer, editors all layers or the ones named. */
export function mayEdit(session, layerId) {
  if (!session) return false;
  if (session.role === 'admin') return true;
  if (session.role !== 'editor') return false;
  const layers = session.layers;
  return !layers || layers.length === 0 || layers.includes('*') || layers.includes(layerId);
}

export function isAdmin(session) { return session?.role === 'admin'; }

export class Auth {
  constructor(app) {
    this.app = app;
  }

  /** Read the current session (a reload keeps the cookie) and draw the 登录 button or the user's name. On a
   *  closed server (KFQMAP_ANONYMOUS=none) nobody reads anything before signing in: resolves after the login. */
  async start() {
    this.bind();
    let me = null;
    try { me = await whoAmI(); } catch (err) { console.warn('auth/me', err); }
    this.anonymousAccess = me?.anonymous_access || 'read';
    this.setSession(me && me.user ? me : null);
    if (!me?.user && me?.anonymous_access === 'none') await this.requireLogin();
  }

  /** The login dialog that cannot be dismissed (closed servers); resolves once signed in. */
  requireLogin() {
    const dlg = $('#dlg-login');
    document.body.dataset.loginRequired = '1';
    dlg.querySelector('.login-required').hidden = false;
    dlg.querySelector('button[value=cancel]').hidden = true;
    dlg.addEventListener('cancel', (e) => e.preventDefault());       // Esc does not close it
    this.openDialog();
    return new Promise((resolve) => {
      const off = store.on('user', (s) => { if (s) { off(); delete document.body.dataset.loginRequired; resolve(); } });
    });
  }

  bind() {
    $('#btn-login').addEventListener('click', () => this.openDialog());
    $('#btn-logout').addEventListener('click', () => this.logout());
    const dlg = $('#dlg-login');
    dlg.querySelector('form').addEventListener('submit', (e) => {
      if (e.submitter?.value === 'cancel') return;     // the dialog closes by itself
      e.preventDefault();
      this.submit();
    });
  }

  setSession(session) {
    setCsrfToken(session?.csrf);
    const name = session?.user?.name ?? session?.user?.username ?? session?.user ?? null;
    const s = session ? { ...session, name: String(name) } : null;
    store.set('user', s);
    $('#btn-login').hidden = !!s;
    $('#user-box').hidden = !s;
    document.body.dataset.role = s ? s.role : 'anonymous';
    if (s) {
      $('#user-name').textContent = s.name;
      $('#user-role').textContent = ROLE_ZH[s.role] || s.role;
      $('#user-box').title = `${s.name}（${ROLE_ZH[s.role] || s.role}）${s.layers?.length ? `；可编辑：${s.layers.join('、')}` : ''}`;
    }
  }

  openDialog() {
    const dlg = $('#dlg-login');
    dlg.querySelector('form').reset();
    $('#login-error').textContent = '';
    dlg.showModal();
    dlg.querySelector('input[name=username]').focus();
  }

  async submit() {
    const dlg = $('#dlg-login');
    const form = dlg.querySelector('form');
    const username = form.username.value.trim(), password = form.password.value;
    const err = $('#login-error');
    if (!username || !password) { err.textContent = '请输入用户名和密码'; return; }
    const go = $('#btn-login-go');
    go.disabled = true;
    err.textContent = '';
    try {
      const session = await login(username, password);
      form.password.value = '';
      this.setSession(session);
      dlg.close('ok');
      setStatus(`已登录：${this.session.name}（${ROLE_ZH[this.session.role] || this.session.role}）`);
    } catch (e) {
      err.textContent = e.status === 401 || e.status === 403 ? '用户名或密码不正确'
        : e.status === 429 ? '登录失败次数过多，请稍后再试' : `登录失败：${e.message}`;
    } finally { go.disabled = false; }
  }

  async logout() {
    try { await logout(); } catch (e) { console.warn('logout', e); }
    this.setSession(null);
    if (this.anonymousAccess === 'none') { location.reload(); return; }   // a closed server shows nothing after it
    setStatus('已退出登录（只读）');
  }

  get session() { return store.get('user') || null; }
}

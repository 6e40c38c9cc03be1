// Every label in Simplified Chinese and English; Chinese first, as the command centre works in it.

import type { Term, Workflow } from './api';

export type Lang = 'zh' | 'en';

const LANG_KEY = 'gridpatrol.lang';

let lang: Lang = (globalThis.localStorage?.getItem(LANG_KEY) as Lang) === 'en' ? 'en' : 'zh';

export function getLang(): Lang {
  return lang;
}

export function setLang(l: Lang): void {
  lang = l;
  globalThis.localStorage?.setItem(LANG_KEY, l);
  if (globalThis.document) document.documentElement.lang = l === 'zh' ? 'zh-CN' : 'en';
}

const T = {
  app_title: ['网格化管理指挥中心', 'Grid Management Command Centre'],
  app_sub: ['GridPatrol 网格巡查', 'GridPatrol'],
  sign_in: ['登录', 'Sign in'],
  sign_out: ['退出', 'Sign out'],
  notice: ['提示', 'Notice'],
  token_revoked: ['此令牌已被吊销或更换，请使用新令牌登录', 'This token was revoked or replaced: sign in with a new one'],
  token: ['坐席令牌', 'Desk token'],
  token_hint: ['由 gridpatrol-server 发放，形如 gpk_…（演示令牌见 demo-tokens.json）', 'Issued by gridpatrol-server, like gpk_… (demo tokens are in demo-tokens.json)'],
  token_empty: ['请输入坐席令牌', 'Enter a desk token'],
  token_format: ['令牌应以 gpk_ 开头（设备令牌 gpd_ 不能登录坐席）', 'A desk token starts with gpk_ (device tokens gpd_ cannot sign in here)'],
  signing_in: ['正在登录…', 'Signing in…'],
  nav_overview: ['总览', 'Overview'],
  nav_supervision: ['督办', 'Supervision'],
  nav_assessment: ['考核', 'Assessment'],
  nav_audit: ['审计', 'Audit'],
  settings: ['设置', 'Settings'],
  lang_switch: ['English', '中文'],
  live_on: ['实时', 'Live'],
  live_off: ['离线', 'Offline'],
  scope: ['辖区', 'Scope'],
  map: ['网格地图', 'Grid map'],
  cell: ['网格', 'Cell'],
  cells: ['网格', 'cells'],
  all_cells: ['全部网格', 'All cells'],
  clear_filter: ['清除筛选', 'Clear filter'],
  filter_cell: ['已筛选网格', 'Filtered to cell'],
  queue: ['派遣队列', 'Dispatch queue'],
  queue_dept: ['待办任务', 'Task orders'],
  queue_todo: ['待受理', 'To register'],
  queue_dispatch: ['待派遣', 'To dispatch'],
  queue_verify: ['待核查派发', 'To verify'],
  queue_all: ['全部案件', 'All cases'],
  queue_empty: ['没有待办案件', 'Nothing waiting'],
  keys_help: ['j/k 或 ↑/↓ 选择 · Enter 打开 · r 立案 · x 不予立案 · d 派遣 · m 加载更多 · Esc 返回', 'j/k or ↑/↓ move · Enter open · r register · x reject · d dispatch · m load more · Esc back'],
  keys_help_dept: ['j/k 或 ↑/↓ 选择 · Enter 打开 · m 加载更多 · Esc 返回', 'j/k or ↑/↓ move · Enter open · m load more · Esc back'],
  loading: ['加载中…', 'Loading…'],
  total: ['共', 'Total'],
  items: ['件', 'cases'],
  shown_of: ['显示 {n} / 共 {m} 件', 'Showing {n} of {m}'],
  load_more: ['加载更多', 'Load more'],
  map_capped: ['地图仅显示最新 {n} 件，共 {m} 件', 'The map shows the newest {n} of {m} cases'],
  case: ['案件', 'Case'],
  case_id: ['案件编号', 'Case id'],
  category: ['类别', 'Category'],
  address: ['地址', 'Address'],
  description: ['描述', 'Description'],
  reporter: ['上报人', 'Reporter'],
  reported_at: ['上报时间', 'Reported'],
  device: ['设备', 'Device'],
  location: ['位置', 'Location'],
  stage: ['环节', 'Stage'],
  department: ['处置部门', 'Department'],
  deadline: ['处置时限', 'Deadline'],
  countdown: ['倒计时', 'Countdown'],
  route: ['派遣规则', 'Routing rule'],
  photos: ['照片', 'Photos'],
  no_photos: ['无照片', 'No photos'],
  photo_loading: ['照片加载中', 'Loading photo'],
  photo_missing: ['照片尚未上传', 'Photo not uploaded yet'],
  timeline: ['流转记录', 'Timeline'],
  flagged: ['无效（已标记）', 'Flagged (ignored)'],
  actions: ['可执行操作', 'Actions'],
  no_actions: ['当前角色在此环节无可执行操作', 'No action for this role at this stage'],
  back: ['返回', 'Back'],
  note: ['意见/备注', 'Note'],
  hours: ['时限（小时）', 'Hours'],
  deadline_at: ['截止时间', 'Deadline at'],
  assignee: ['核查网格员', 'Verifying worker'],
  assignee_hint: ['留空则为上报人或网格当前网格员', 'Empty: the reporter or the cell\'s current worker'],
  confirm: ['确定', 'Confirm'],
  cancel: ['取消', 'Cancel'],
  escalated: ['已升级督办', 'Escalated'],
  err_hours: ['请填写时限：大于 0 的小时数', 'Give the hours: a number above 0'],
  err_hours_extend: ['延期须填写延长的小时数（大于 0）', 'An extension needs hours (a number above 0)'],
  err_department: ['请填写处置部门', 'Name the department'],
  err_reject_note: ['不予立案须填写理由', 'A rejection needs a reason'],
  err_note_long: ['备注不能超过 2000 字', 'The note is at most 2000 characters'],
  err_network: ['无法连接服务器', 'Cannot reach the server'],
  done: ['已完成', 'Done'],
  supervision: ['督办', 'Supervision'],
  sup_intro: ['临近时限与已超期的案件，按处置部门分组', 'Cases approaching and past their deadline, by department'],
  sup_empty: ['没有临近或超期的案件', 'No case approaching or past its deadline'],
  sup_run: ['立即执行督办巡检', 'Run supervision now'],
  sup_ran: ['督办巡检完成', 'Supervision pass done'],
  reminded: ['已发送督办提醒', 'Reminder recorded'],
  overdue_n: ['超期', 'overdue'],
  approaching_n: ['临期', 'approaching'],
  assessment: ['考核', 'Assessment'],
  from: ['起始日期', 'From'],
  to: ['结束日期', 'To'],
  query: ['查询', 'Query'],
  export_csv: ['导出 CSV', 'Export CSV'],
  by_department: ['按部门', 'By department'],
  by_street: ['按街道', 'By street'],
  by_cell: ['按网格', 'By cell'],
  by_worker: ['按网格员', 'By worker'],
  group: ['分组', 'Group'],
  no_group: ['未派遣/未分组', 'Not dispatched / none'],
  sum: ['合计', 'Total'],
  cases_in_scope: ['辖区案件数', 'Cases in scope'],
  no_data: ['该时段无数据', 'No data for this period'],
  err_period: ['结束日期须晚于起始日期', 'The end date must be after the start date'],
  tiles_url: ['底图瓦片地址（可选）', 'Tile layer URL (optional)'],
  tiles_hint: ['如 https://…/{z}/{x}/{y}.png；留空则只画网格', 'e.g. https://…/{z}/{x}/{y}.png; empty: grid only'],
  tiles_gcj: ['瓦片为 GCJ-02 坐标（高德、腾讯等国内地图）', 'Tiles are in GCJ-02 (AMap, Tencent and other Chinese maps)'],
  save: ['保存', 'Save'],
  legend: ['图例', 'Legend'],
  on_time: ['正常', 'On time'],
  approaching: ['临期', 'Approaching'],
  overdue: ['超期', 'Overdue'],
  no_deadline: ['无时限', 'No deadline'],
  updated: ['已更新', 'Updated'],
  not_found: ['案件不存在或不在本辖区', 'No such case in your scope'],
  audit: ['审计日志', 'Audit log'],
  audit_intro: ['谁在何时做了什么：设备注册、同步拒收、管理操作与系统动作（最近 200 条）', 'Who did what when: enrolments, refused syncs, admin and system actions (latest 200)'],
  audit_refused_only: ['只看同步拒收', 'Refused syncs only'],
  audit_refused_count: ['同步拒收 {n} 条', '{n} refused syncs'],
  audit_empty: ['没有记录', 'Nothing recorded'],
  audit_at: ['时间', 'Time'],
  audit_who: ['主体', 'Who'],
  audit_action: ['操作', 'Action'],
  audit_case: ['案件', 'Case'],
  audit_reason: ['原因', 'Reason'],
  audit_supervisor_only: ['审计日志仅值班长/监督可见', 'The audit log is for supervisors only'],
} as const satisfies Record<string, readonly [string, string]>;

export type Key = keyof typeof T;

export function t(key: Key): string {
  const pair = T[key];
  return lang === 'zh' ? pair[0] : pair[1];
}

/** A label with its {placeholders} filled in: tf('shown_of', { n: 100, m: 523 }). */
export function tf(key: Key, vars: Record<string, string | number>): string {
  return t(key).replace(/\{(\w+)\}/g, (all, name: string) => (name in vars ? String(vars[name]) : all));
}

// The workflow's words and the indicators are the core's, served by GET /api/v1/workflow and set at
// sign-in: the dashboard keeps no copies of them (copies drift). Before they arrive, a code shows as is.
let words: Workflow = { stages: [], actions: [], roles: [], indicators: [] };
const pick = (list: Term[], code: string | null | undefined): string | null => {
  const w = list.find((x) => x.code === code);
  return w ? (lang === 'zh' ? w.zh : w.en) : null;
};

export function setWorkflow(w: Workflow): void {
  words = w;
}

export function stageLabel(s: string | null | undefined): string {
  if (!s) return '—';
  return pick(words.stages, s) ?? s;
}

/** What the audit log records besides workflow actions. */
const AUDIT_ACTIONS: Record<string, readonly [string, string]> = {
  sync_refused: ['同步拒收', 'Sync refused'],
  enroll: ['设备注册', 'Device enrolled'],
  'worker add': ['新增网格员', 'Worker added'],
  'device add': ['发放设备令牌', 'Device token issued'],
  'device revoke': ['吊销设备', 'Device revoked'],
  'desk add': ['新增坐席', 'Desk added'],
  'desk revoke': ['吊销坐席', 'Desk revoked'],
  'desk rotate': ['更换坐席令牌', 'Desk token rotated'],
};

/** An audit entry's action: its own label, a workflow action's, or the raw word. */
export function auditActionLabel(a: string): string {
  const p = AUDIT_ACTIONS[a];
  return p ? (lang === 'zh' ? p[0] : p[1]) : actionLabel(a);
}

export function actionLabel(a: string): string {
  return pick(words.actions, a) ?? a;
}

export function roleLabel(r: string | null | undefined): string {
  if (!r) return '—';
  return pick(words.roles, r) ?? r;
}

export function deadlineLabel(s: string | null | undefined): string {
  switch (s) {
    case 'on_time':
      return t('on_time');
    case 'approaching':
      return t('approaching');
    case 'overdue':
      return t('overdue');
    default:
      return t('no_deadline');
  }
}

/** The indicators the assessment shows, in order, with the core's field names. */
export function indicators(): Workflow['indicators'] {
  return words.indicators;
}

export function indicatorLabel(i: { zh: string; en: string }): string {
  return lang === 'zh' ? i.zh : i.en;
}

/** A rate as a percentage, "—" when its denominator was 0. */
export function pct(v: number | null | undefined): string {
  return v === null || v === undefined ? '—' : `${(v * 100).toFixed(1)}%`;
}

// The desk API of gridpatrol-server (same origin). The desk token is kept in sessionStorage: it is gone
// when the tab closes.

import type { FeatureCollection } from 'geojson';

const TOKEN_KEY = 'gridpatrol.token';

/** One line of the audit log, newest first. */
export interface AuditEntry {
  at_ms: number;
  principal: string;
  action: string;
  case_id: string | null;
  reason: string | null;
}

export interface Me {
  id: string;
  role: 'dispatcher' | 'supervisor' | 'department';
  scope: string;
  department: string | null;
}

/** A stage, action or role with its labels (GET /api/v1/workflow). */
export interface Term {
  code: string;
  zh: string;
  en: string;
}

export interface Workflow {
  /** In the order of the closed loop. */
  stages: (Term & { terminal: boolean; with_department: boolean })[];
  actions: Term[];
  roles: Term[];
  /** The assessment's figures, in the order it shows them. */
  indicators: { key: string; zh: string; en: string; rate: boolean }[];
}

/** What needs the command centre's attention (GET /api/v1/notices). */
export interface Notice {
  code: string;
  severity: 'warning';
  message_zh: string;
  message_en: string;
  years?: number[];
}

export interface CategoryKey {
  standard: string;
  code: string;
}

export type DeadlineState = 'no_deadline' | 'on_time' | 'approaching' | 'overdue';

export interface CaseRow {
  id: string;
  cell: string | null;
  stage: string;
  stage_zh: string;
  category: CategoryKey;
  department: string | null;
  deadline: string | null;
  dispatched_at: string | null;
  overdue: boolean;
  escalated: boolean;
  /** Measured by the server on the case's clock and the work calendar. */
  deadline_state: DeadlineState;
  reporter: string;
  verifier: string | null;
  address: string;
  summary: string;
  lat: number;
  lon: number;
  photos: number;
  created_at: string;
  updated_at: string;
}

/** How a list is sorted: newest report first (the default), oldest first (a queue), earliest deadline first. */
export type CaseOrder = 'newest' | 'oldest' | 'deadline';

export interface CasesQuery {
  stage?: string | string[];
  cell?: string;
  department?: string;
  overdue?: boolean;
  deadline_state?: DeadlineState | DeadlineState[];
  order?: CaseOrder;
  limit?: number;
  offset?: number;
}

export interface CasePage {
  items: CaseRow[];
  total: number;
  limit: number;
  offset: number;
}

export interface TimelineEvent {
  id: string;
  at: { wall_ms: number; counter: number };
  actor: string;
  role: string;
  device: string | null;
  action: string;
  note: string | null;
  department: string | null;
  deadline: string | null;
  attachments: string[];
  assignee: string | null;
}

export interface TimelineEntry {
  event: TimelineEvent;
  outcome: { outcome: 'applied'; from: string | null; to: string } | { outcome: 'flagged'; reason: string };
}

export interface PhotoRef {
  sha256: string;
  thumb_sha256: string;
  bytes: number;
  width: number;
  height: number;
  taken_at: string | null;
  added_by: string;
  added_at: string;
}

export interface Route {
  department: string | null;
  deadline: string | null;
  hours: number | null;
  clock: string | null;
  because: string;
}

export interface CaseView {
  id: string;
  reporter: string;
  device: string;
  cell: string | null;
  location: { lat: number; lon: number; accuracy_m: number | null };
  created_at: string;
  details: { category: CategoryKey; address: string; description: string };
  photos: PhotoRef[];
  timeline: {
    entries: TimelineEntry[];
    stage: string | null;
    department: string | null;
    deadline: string | null;
    dispatched_at: string | null;
    verifier: string | null;
  };
  stage: string | null;
  route: Route | null;
  pool_entered_at: string | null;
  deadline_state: DeadlineState;
  escalated: boolean;
  actions: string[];
}

export interface ActionRequest {
  action: string;
  note?: string;
  department?: string;
  deadline?: string;
  hours?: number;
  assignee?: string;
}

export type Indicators = Record<string, number | null>;

export interface Stats {
  group_by: string;
  from: string;
  to: string;
  cases: number;
  groups: Record<string, Indicators>;
  total: Indicators;
}

export interface Category {
  key: CategoryKey;
  major_class: string;
  minor_class: string;
  default_department: string;
  deadline_hours: number;
  clock: string;
}

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
  ) {
    super(message);
  }
}

export function getToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token: string | null): void {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

async function request(method: string, path: string, body?: unknown, token = getToken()): Promise<Response> {
  const headers: Record<string, string> = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, 'network', String(e));
  }
  if (!res.ok) {
    let code = `http_${res.status}`;
    let message = res.statusText;
    try {
      const j = await res.json();
      code = j.code ?? code;
      message = j.message ?? message;
    } catch {
      /* not JSON */
    }
    // The session's token was revoked: back to the sign-in (not while a new token is being checked).
    if (res.status === 401 && token && token === getToken()) onUnauthorized?.();
    throw new ApiError(res.status, code, message);
  }
  return res;
}

let onUnauthorized: (() => void) | null = null;

export function setUnauthorizedHandler(f: () => void): void {
  onUnauthorized = f;
}

async function json<T>(method: string, path: string, body?: unknown): Promise<T> {
  return (await request(method, path, body)).json() as Promise<T>;
}

function qs(params: Record<string, string | number | boolean | null | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

export const api = {
  /** Checks a token and says whose it is. */
  async me(token: string): Promise<Me> {
    return (await request('GET', '/api/v1/me', undefined, token)).json();
  },
  /** A page of cases; `stage` and `deadline_state` may list several (any of them). */
  cases(q: CasesQuery) {
    const { stage, deadline_state, ...rest } = q;
    const list = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join(',') : v);
    return json<CasePage>('GET', `/api/v1/cases${qs({ ...rest, stage: list(stage), deadline_state: list(deadline_state) })}`);
  },
  case(id: string) {
    return json<CaseView>('GET', `/api/v1/cases/${encodeURIComponent(id)}`);
  },
  act(id: string, req: ActionRequest) {
    return json<CaseView>('POST', `/api/v1/cases/${encodeURIComponent(id)}/actions`, req);
  },
  stats(q: { group_by: string; from?: string; to?: string }) {
    return json<Stats>('GET', `/api/v1/stats${qs(q)}`);
  },
  grids() {
    return json<FeatureCollection>('GET', '/api/v1/grids');
  },
  catalog() {
    return json<Category[]>('GET', '/api/v1/catalog');
  },
  notices() {
    return json<Notice[]>('GET', '/api/v1/notices');
  },
  /** The workflow's words and the indicators, with the core's labels in both languages. */
  workflow() {
    return json<Workflow>('GET', '/api/v1/workflow');
  },
  /** The latest audit entries (supervisors only). */
  audit(limit = 200) {
    return json<AuditEntry[]>('GET', `/api/v1/audit?limit=${limit}`);
  },
  runSupervision() {
    return json<{ checked: number; reminded: number; escalated: number; closed: number }>('POST', '/api/v1/supervision/run');
  },
  /** A photo as an object URL: the blob endpoint needs the Authorization header, so <img src> cannot fetch it. */
  async blobUrl(sha256: string): Promise<string> {
    const res = await request('GET', `/api/v1/blobs/${sha256}`);
    return URL.createObjectURL(await res.blob());
  },
};

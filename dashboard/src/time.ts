// Times as the command centre reads them: Beijing time (UTC+8, no daylight saving), whatever the browser's zone.

import type { Lang } from './i18n';

const BEIJING_MS = 8 * 3600 * 1000;

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** "2025-03-04 14:05" in Beijing time. */
export function beijing(t: string | number | Date | null | undefined, seconds = false): string {
  if (t === null || t === undefined || t === '') return '—';
  const ms = typeof t === 'number' ? t : new Date(t).getTime();
  if (!Number.isFinite(ms)) return '—';
  const d = new Date(ms + BEIJING_MS);
  const s = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
  return seconds ? `${s}:${pad(d.getUTCSeconds())}` : s;
}

/** The date (YYYY-MM-DD) in Beijing of an instant: for date inputs. */
export function beijingDate(t: number | Date): string {
  const d = new Date((typeof t === 'number' ? t : t.getTime()) + BEIJING_MS);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

/**
 * The time left to a deadline, in wall-clock time: "剩余 2小时05分" / "2 h 05 min left", or
 * "超期 1天3小时" / "overdue 1 d 3 h". Days appear past 24 h, minutes under a day.
 */
export function countdown(deadline: string | number | null | undefined, now: number, lang: Lang): string {
  if (deadline === null || deadline === undefined || deadline === '') return lang === 'zh' ? '无时限' : 'no deadline';
  const d = typeof deadline === 'number' ? deadline : new Date(deadline).getTime();
  if (!Number.isFinite(d)) return lang === 'zh' ? '无时限' : 'no deadline';
  const diff = d - now;
  const late = diff < 0;
  const mins = Math.floor(Math.abs(diff) / 60000);
  const days = Math.floor(mins / 1440);
  const hours = Math.floor((mins % 1440) / 60);
  const m = mins % 60;
  let span: string;
  if (lang === 'zh') {
    span = days > 0 ? `${days}天${hours}小时` : hours > 0 ? `${hours}小时${pad(m)}分` : `${m}分钟`;
    return late ? `超期 ${span}` : `剩余 ${span}`;
  }
  span = days > 0 ? `${days} d ${hours} h` : hours > 0 ? `${hours} h ${pad(m)} min` : `${m} min`;
  return late ? `overdue ${span}` : `${span} left`;
}

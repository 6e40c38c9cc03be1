// Assessment (考核): the indicators per department, street, cell or worker over a chosen period, as a table
// and bar charts, exportable as CSV (UTF-8 with BOM, for Excel).

import * as echarts from 'echarts/core';
import { BarChart } from 'echarts/charts';
import { GridComponent, LegendComponent, TooltipComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';
import { ApiError, api, type Stats } from '../api';
import { download, toCsv } from '../csv';
import { h, mount } from '../dom';
import { getLang, indicators, indicatorLabel, pct, t, type Key } from '../i18n';
import { debounce, onCaseChanged } from '../live';
import { beijingDate } from '../time';

echarts.use([BarChart, GridComponent, LegendComponent, TooltipComponent, CanvasRenderer]);

const GROUPS: { id: string; label: Key }[] = [
  { id: 'department', label: 'by_department' },
  { id: 'street', label: 'by_street' },
  { id: 'cell', label: 'by_cell' },
  { id: 'worker', label: 'by_worker' },
];

const CHART_RATES = ['on_time_handling_rate', 'closure_rate', 'rework_rate', 'overdue_open_rate'];
const CHART_COUNTS = ['reported', 'dispatched', 'handled', 'closed'];

const memory = { group: 'department', from: '', to: '' };

function addDays(date: string, n: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

export function renderAssessment(main: HTMLElement): () => void {
  let disposed = false;
  let stats: Stats | null = null;
  const today = beijingDate(Date.now());
  if (!memory.from) memory.from = `${today.slice(0, 8)}01`;
  if (!memory.to) memory.to = today;
  const from = h('input#from', { type: 'date', value: memory.from });
  const to = h('input#to', { type: 'date', value: memory.to });
  const periodError = h('div.field-error#period-error', { role: 'alert' });
  const tabs = h('div.tabs');
  const ratesChart = h('div.chart#chart-rates');
  const countsChart = h('div.chart#chart-counts');
  const table = h('div.table-wrap#stats-table');
  const info = h('span.count');
  const charts: echarts.ECharts[] = [];

  mount(
    main,
    h(
      'div.page#assessment',
      h(
        'form.page-head',
        { onsubmit: (e: Event) => { e.preventDefault(); void load(); } },
        h('h2', t('assessment')),
        h('label', { for: 'from' }, t('from')),
        from,
        h('label', { for: 'to' }, t('to')),
        to,
        h('button.primary#query', { type: 'submit' }, t('query')),
        periodError,
        h('div.spacer'),
        info,
        h('button.ghost#export', { type: 'button', onclick: exportCsv }, t('export_csv')),
      ),
      tabs,
      h('div.charts', ratesChart, countsChart),
      table,
    ),
  );

  function renderTabs(): void {
    mount(tabs, GROUPS.map((g) => h('button.tab', { type: 'button', class: g.id === memory.group ? 'active' : '', 'data-group': g.id, onclick: () => { memory.group = g.id; renderTabs(); void load(); } }, t(g.label))));
  }

  async function load(): Promise<void> {
    periodError.textContent = '';
    if (!from.value || !to.value || to.value < from.value) {
      periodError.textContent = t('err_period');
      to.classList.add('invalid');
      return;
    }
    to.classList.remove('invalid');
    memory.from = from.value;
    memory.to = to.value;
    try {
      // The end date is inclusive: the period runs to the next day's midnight (Beijing).
      stats = await api.stats({ group_by: memory.group, from: memory.from, to: addDays(memory.to, 1) });
      if (!disposed) draw();
    } catch (e) {
      if (!disposed) periodError.textContent = e instanceof ApiError ? e.message : String(e);
    }
  }

  function draw(): void {
    const s = stats!;
    const names = Object.keys(s.groups);
    info.textContent = `${t('cases_in_scope')}: ${s.cases}`;
    const cols = indicators();
    mount(
      table,
      names.length
        ? h(
            'table.grid.stats',
            h('thead', h('tr', h('th', t('group')), cols.map((c) => h('th', { class: c.rate ? 'rate' : '' }, indicatorLabel(c))))),
            h(
              'tbody',
              names.map((n) => h('tr', { 'data-group': n }, h('th', groupName(n)), cols.map((c) => h('td', { 'data-key': c.key }, fmt(s.groups[n][c.key], c.rate))))),
              h('tr.total', h('th', t('sum')), cols.map((c) => h('td', { 'data-key': c.key }, fmt(s.total[c.key], c.rate)))),
            ),
          )
        : h('p.empty', t('no_data')),
    );
    for (const c of charts) c.dispose();
    charts.length = 0;
    const lang = getLang();
    const font = '"Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", sans-serif';
    const bar = (el: HTMLElement, keys: string[], rate: boolean) => {
      const chart = echarts.init(el, undefined, { renderer: 'canvas' });
      chart.setOption({
        // Live refreshes redraw often: no animation.
        animation: false,
        textStyle: { fontFamily: font },
        tooltip: { trigger: 'axis', valueFormatter: (v: unknown) => (rate ? `${Number(v).toFixed(1)}%` : String(v)) },
        legend: { top: 0 },
        grid: { left: 48, right: 16, top: 40, bottom: 56 },
        xAxis: { type: 'category', data: names.map(groupName), axisLabel: { interval: 0, rotate: names.length > 6 ? 30 : 0, fontSize: 11 } },
        yAxis: rate ? { type: 'value', max: 100, axisLabel: { formatter: '{value}%' } } : { type: 'value', minInterval: 1 },
        series: keys.map((k) => {
          const ind = indicators().find((i) => i.key === k)!;
          return {
            name: lang === 'zh' ? ind.zh : ind.en,
            type: 'bar',
            data: names.map((n) => {
              const v = s.groups[n][k];
              return v === null || v === undefined ? null : rate ? Math.round(v * 1000) / 10 : v;
            }),
          };
        }),
      });
      charts.push(chart);
    };
    if (names.length) {
      bar(ratesChart, CHART_RATES, true);
      bar(countsChart, CHART_COUNTS, false);
    } else {
      ratesChart.replaceChildren();
      countsChart.replaceChildren();
    }
  }

  function exportCsv(): void {
    if (!stats) return;
    const header = [t('group'), ...indicators().map((c) => `${c.zh} ${c.en}${c.rate ? " (%)" : ""}`)];
    const rows = Object.entries(stats.groups).map(([n, v]) => [groupName(n), ...indicators().map((c) => csvValue(v[c.key], c.rate))]);
    rows.push([t('sum'), ...indicators().map((c) => csvValue(stats!.total[c.key], c.rate))]);
    download(`gridpatrol-${memory.group}-${memory.from}-${memory.to}.csv`, toCsv(header, rows));
  }

  const resize = () => charts.forEach((c) => c.resize());
  window.addEventListener('resize', resize);
  const refresh = debounce(() => void load(), 500);
  const off = onCaseChanged(() => refresh());
  renderTabs();
  void load();
  return () => {
    disposed = true;
    off();
    window.removeEventListener('resize', resize);
    for (const c of charts) c.dispose();
  };
}

/** The indicators' bucket for cases without a department (or cell, worker) reads as such. */
function groupName(n: string): string {
  return n === '(none)' ? t('no_group') : n;
}

function fmt(v: number | null | undefined, rate?: boolean): string {
  return rate ? pct(v) : v === null || v === undefined ? '—' : String(v);
}

/** Rates as a number of percent with one decimal (a spreadsheet can compute with it); empty when undefined. */
function csvValue(v: number | null | undefined, rate?: boolean): number | string {
  if (v === null || v === undefined) return '';
  return rate ? Math.round(v * 1000) / 10 : v;
}

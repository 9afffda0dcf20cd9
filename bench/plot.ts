/** Small helpers the benchmarks share: a median, and SVG charts written by hand (no plotting package). */

/** The middle value (the mean of the two middle ones for an even count); 0 for none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/**
 * The nearest-rank `q` quantile of values sorted ascending: the smallest value with at least `q`
 * of the samples at or below it; NaN for none.
 */
export function nearestRank(sorted: readonly number[], q: number): number {
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
}

/** A bar chart: groups of bars, one colour per series, with optional horizontal reference lines. */
export interface BarChart {
  readonly title: string;
  readonly unit: string;
  readonly groups: readonly {
    readonly label: string;
    readonly bars: readonly { readonly series: string; readonly value: number }[];
  }[];
  readonly lines?: readonly { readonly label: string; readonly value: number }[];
}

const COLOURS = ['#3b6fb6', '#e08a2c', '#4f9d55', '#b2463f', '#7a5cab'];
const LINE_COLOURS = ['#555', '#b2463f'];

const escapeXml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The chart as an SVG document. */
export function barChart(chart: BarChart): string {
  const width = 760;
  const height = 380;
  const left = 60;
  const right = 20;
  const top = 40;
  const bottom = 80;
  const plotWidth = width - left - right;
  const plotHeight = height - top - bottom;
  const series = [...new Set(chart.groups.flatMap((group) => group.bars.map((bar) => bar.series)))];
  const highest = Math.max(
    ...chart.groups.flatMap((group) => group.bars.map((bar) => bar.value)),
    ...(chart.lines ?? []).map((line) => line.value),
    1e-9,
  );
  const scale = niceCeiling(highest);
  const y = (value: number) => top + plotHeight - (value / scale) * plotHeight;
  const groupWidth = plotWidth / Math.max(chart.groups.length, 1);
  const barWidth = (groupWidth * 0.7) / Math.max(series.length, 1);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="14">${escapeXml(chart.title)}</text>`,
  ];
  for (let tick = 0; tick <= 4; tick++) {
    const value = (scale * tick) / 4;
    parts.push(
      `<line x1="${left}" x2="${width - right}" y1="${y(value)}" y2="${y(value)}" stroke="#ddd"/>`,
      `<text x="${left - 6}" y="${y(value) + 4}" text-anchor="end">${formatNumber(value)}</text>`,
    );
  }
  parts.push(
    `<text x="14" y="${top + plotHeight / 2}" transform="rotate(-90 14 ${top + plotHeight / 2})" text-anchor="middle">${escapeXml(chart.unit)}</text>`,
  );
  chart.groups.forEach((group, groupIndex) => {
    const start = left + groupIndex * groupWidth + groupWidth * 0.15;
    group.bars.forEach((bar) => {
      const index = series.indexOf(bar.series);
      const x = start + index * barWidth;
      parts.push(
        `<rect x="${x.toFixed(1)}" y="${y(bar.value).toFixed(1)}" width="${(barWidth - 2).toFixed(1)}" height="${(top + plotHeight - y(bar.value)).toFixed(1)}" fill="${COLOURS[index % COLOURS.length]}"><title>${escapeXml(`${group.label}, ${bar.series}: ${formatNumber(bar.value)} ${chart.unit}`)}</title></rect>`,
      );
    });
    parts.push(
      `<text x="${(left + groupIndex * groupWidth + groupWidth / 2).toFixed(1)}" y="${top + plotHeight + 16}" text-anchor="middle">${escapeXml(group.label)}</text>`,
    );
  });
  (chart.lines ?? []).forEach((line, index) => {
    const colour = LINE_COLOURS[index % LINE_COLOURS.length];
    parts.push(
      `<line x1="${left}" x2="${width - right}" y1="${y(line.value).toFixed(1)}" y2="${y(line.value).toFixed(1)}" stroke="${colour}" stroke-dasharray="5 4"/>`,
    );
  });
  const legend = [
    ...series.map((name, index) => ({ name, colour: COLOURS[index % COLOURS.length], dashed: false })),
    ...(chart.lines ?? []).map((line, index) => ({
      name: `${line.label} (${formatNumber(line.value)})`,
      colour: LINE_COLOURS[index % LINE_COLOURS.length],
      dashed: true,
    })),
  ];
  legend.forEach((entry, index) => {
    const x = left + (index % 3) * 230;
    const yPos = height - 40 + Math.floor(index / 3) * 18;
    parts.push(
      entry.dashed
        ? `<line x1="${x}" x2="${x + 14}" y1="${yPos - 4}" y2="${yPos - 4}" stroke="${entry.colour}" stroke-dasharray="4 3"/>`
        : `<rect x="${x}" y="${yPos - 10}" width="14" height="10" fill="${entry.colour}"/>`,
      `<text x="${x + 20}" y="${yPos}">${escapeXml(entry.name)}</text>`,
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

/** 1, 2 or 5 times a power of ten, at least `value`. */
function niceCeiling(value: number): number {
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

function formatNumber(value: number): string {
  if (value === 0) return '0';
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 1) return value.toFixed(1);
  return value.toPrecision(2);
}

/**
 * A small hand-written SVG line chart for benchmark reports (no plotting dependency): numeric x
 * axis with given ticks (linear or logarithmic), a linear or logarithmic y axis, one polyline with
 * markers per series.
 */

/** One line of a chart. */
export interface ChartSeries {
  readonly name: string;
  readonly points: readonly (readonly [x: number, y: number])[];
  /** CSS colour. */
  readonly color: string;
  /** Drawn dashed (e.g. a goal, or a figure that does not depend on x). @default false */
  readonly dashed?: boolean;
  /** Draw a marker at each point. @default true */
  readonly markers?: boolean;
}

/** What {@link lineChart} draws. */
export interface LineChart {
  readonly title: string;
  readonly subtitle?: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly xTicks: readonly number[];
  readonly series: readonly ChartSeries[];
  /** Logarithmic y axis (for series orders of magnitude apart). @default false */
  readonly logY?: boolean;
  /** Logarithmic x axis (e.g. fan-out 1 to 1,000, or a latency distribution's long tail). @default false */
  readonly logX?: boolean;
}

const WIDTH = 760;
const HEIGHT = 460;
const PLOT = { left: 80, right: 250, top: 60, bottom: 60 };

/** The chart as an SVG document. */
export function lineChart(chart: LineChart): string {
  const drawable = ([x, y]: readonly [number, number]) =>
    Number.isFinite(y) && (!chart.logY || y > 0) && (!chart.logX || x > 0);
  const points = chart.series.flatMap((series) => series.points).filter(drawable);
  const ys = points.map(([, y]) => y);
  const xs = [...chart.xTicks, ...points.map(([x]) => x)].filter((x) => !chart.logX || x > 0);
  const scaleX = chart.logX ? Math.log10 : (x: number) => x;
  const xMin = scaleX(Math.min(...xs));
  const xMax = scaleX(Math.max(...xs));
  const [yMin, yMax, yTicks] = chart.logY ? logRange(ys) : linearRange(ys);
  const plotWidth = WIDTH - PLOT.left - PLOT.right;
  const plotHeight = HEIGHT - PLOT.top - PLOT.bottom;
  const sx = (x: number) =>
    PLOT.left + (xMax === xMin ? 0.5 : (scaleX(x) - xMin) / (xMax - xMin)) * plotWidth;
  const scaleY = chart.logY ? Math.log10 : (y: number) => y;
  const sy = (y: number) =>
    PLOT.top + plotHeight - ((scaleY(y) - scaleY(yMin)) / (scaleY(yMax) - scaleY(yMin))) * plotHeight;

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(chart.title)}</text>`,
  ];
  if (chart.subtitle)
    parts.push(
      `<text x="${WIDTH / 2}" y="42" text-anchor="middle" fill="#555">${escapeXml(chart.subtitle)}</text>`,
    );
  for (const tick of yTicks) {
    const y = sy(tick).toFixed(1);
    parts.push(
      `<line x1="${PLOT.left}" x2="${PLOT.left + plotWidth}" y1="${y}" y2="${y}" stroke="#e4e4e4"/>`,
      `<text x="${PLOT.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${formatTick(tick)}</text>`,
    );
  }
  for (const tick of chart.xTicks.filter((x) => !chart.logX || x > 0)) {
    const x = sx(tick).toFixed(1);
    parts.push(
      `<line x1="${x}" x2="${x}" y1="${PLOT.top + plotHeight}" y2="${PLOT.top + plotHeight + 5}" stroke="#333"/>`,
      `<text x="${x}" y="${PLOT.top + plotHeight + 18}" text-anchor="middle">${formatTick(tick)}</text>`,
    );
  }
  parts.push(
    `<rect x="${PLOT.left}" y="${PLOT.top}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#333"/>`,
    `<text x="${PLOT.left + plotWidth / 2}" y="${HEIGHT - 16}" text-anchor="middle">${escapeXml(chart.xLabel)}</text>`,
    `<text transform="translate(20 ${PLOT.top + plotHeight / 2}) rotate(-90)" text-anchor="middle">${escapeXml(chart.yLabel)}</text>`,
  );
  chart.series.forEach((series, index) => {
    const drawn = series.points.filter(drawable);
    const path = drawn.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
    const dash = series.dashed ? ' stroke-dasharray="6 4"' : '';
    if (drawn.length > 1)
      parts.push(`<polyline points="${path}" fill="none" stroke="${series.color}" stroke-width="2"${dash}/>`);
    if (series.markers ?? true)
      for (const [x, y] of drawn)
        parts.push(
          `<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="4" fill="${series.color}"><title>${escapeXml(`${series.name}: ${formatTick(y)}`)}</title></circle>`,
        );
    const legendY = PLOT.top + 10 + index * 22;
    const legendX = PLOT.left + plotWidth + 16;
    parts.push(
      `<line x1="${legendX}" x2="${legendX + 24}" y1="${legendY}" y2="${legendY}" stroke="${series.color}" stroke-width="2"${dash}/>`,
      `<text x="${legendX + 30}" y="${legendY}" dominant-baseline="middle">${escapeXml(series.name)}</text>`,
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

function linearRange(ys: readonly number[]): [number, number, number[]] {
  const max = ys.length === 0 ? 1 : Math.max(...ys);
  const step = niceStep(max / 5);
  const top = Math.max(step, Math.ceil(max / step) * step);
  const ticks: number[] = [];
  for (let tick = 0; tick <= top + step / 2; tick += step) ticks.push(tick);
  return [0, top, ticks];
}

function logRange(ys: readonly number[]): [number, number, number[]] {
  const low = ys.length === 0 ? 1 : Math.min(...ys);
  const high = ys.length === 0 ? 10 : Math.max(...ys);
  const from = Math.floor(Math.log10(low));
  const to = Math.max(from + 1, Math.ceil(Math.log10(high)));
  const ticks: number[] = [];
  for (let power = from; power <= to; power++) {
    for (const mantissa of [1, 2, 5]) {
      const tick = mantissa * 10 ** power;
      if (tick <= 10 ** to) ticks.push(tick);
    }
  }
  return [10 ** from, 10 ** to, ticks];
}

function niceStep(raw: number): number {
  const power = 10 ** Math.floor(Math.log10(raw || 1));
  const fraction = raw / power;
  return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * power;
}

function formatTick(value: number): string {
  if (value >= 1000) return value.toLocaleString('en-US', { maximumFractionDigits: 0 });
  return Number(value.toPrecision(3)).toString();
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

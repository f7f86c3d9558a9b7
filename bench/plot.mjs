// Grouped bar charts as standalone SVG text, side by side in panels: enough for the benchmark plots,
// with no dependency.

const COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2'];
const PANEL = { width: 380, height: 320, left: 52, right: 12, top: 72, bottom: 40 };
const LEGEND_LINE = 16;

const xml = (text) => String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A round axis maximum at or above `max`, and its step: 1, 2 or 5 × a power of ten, four or five ticks. */
function axis(max) {
  if (!(max > 0)) return { top: 1, step: 0.25 };
  const rough = max / 4;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough);
  return { top: Math.ceil(max / step) * step, step };
}

const label = (value) =>
  value >= 1e6
    ? `${+(value / 1e6).toFixed(1)}M`
    : value >= 1e3
      ? `${+(value / 1e3).toFixed(1)}k`
      : `${+value.toFixed(2)}`;

/**
 * `{ title, panels: [{ title, groups: [label…], series: [{ name, values: [number|undefined per group] }] }] }`
 * → one SVG, its panels left to right, each with its own y axis from 0, its legend below.
 */
export function barChart({ title, panels }) {
  const legendRows = Math.max(...panels.map((p) => p.series.length));
  const height = 28 + PANEL.height + legendRows * LEGEND_LINE + 8;
  const width = panels.length * PANEL.width;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<title>${xml(title)}</title>`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${width / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">${xml(title)}</text>`,
  ];
  panels.forEach((panel, index) => {
    parts.push(`<g transform="translate(${index * PANEL.width},28)">`, ...drawPanel(panel), '</g>');
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

function drawPanel({ title, groups, series }) {
  const plotWidth = PANEL.width - PANEL.left - PANEL.right;
  const plotHeight = PANEL.height - PANEL.top - PANEL.bottom;
  const values = series.flatMap((s) => s.values).filter((v) => Number.isFinite(v));
  const { top, step } = axis(Math.max(0, ...values));
  const y = (v) => PANEL.top + plotHeight - (Math.max(0, v) / top) * plotHeight;
  const out = [
    `<text x="${PANEL.width / 2}" y="${PANEL.top - 50}" text-anchor="middle" font-weight="bold">${xml(title)}</text>`,
  ];
  for (let tick = 0; tick <= top + step / 2; tick += step) {
    out.push(
      `<line x1="${PANEL.left}" x2="${PANEL.left + plotWidth}" y1="${y(tick).toFixed(1)}" y2="${y(tick).toFixed(1)}" stroke="#ddd"/>`,
      `<text x="${PANEL.left - 4}" y="${(y(tick) + 4).toFixed(1)}" text-anchor="end" fill="#555">${label(tick)}</text>`,
    );
  }
  const groupWidth = plotWidth / groups.length;
  const barWidth = (groupWidth * 0.8) / series.length;
  groups.forEach((group, g) => {
    const x0 = PANEL.left + g * groupWidth + groupWidth * 0.1;
    series.forEach((s, i) => {
      const v = s.values[g];
      if (!Number.isFinite(v)) return;
      const x = x0 + i * barWidth;
      out.push(
        `<rect x="${x.toFixed(1)}" y="${y(v).toFixed(1)}" width="${(barWidth - 1).toFixed(1)}" height="${(PANEL.top + plotHeight - y(v)).toFixed(1)}" fill="${COLORS[i % COLORS.length]}"><title>${xml(`${s.name}, ${group}: ${label(v)}`)}</title></rect>`,
      );
      // the value above its bar, written upwards so that narrow bars keep their labels apart
      const lx = (x + barWidth / 2 + 3).toFixed(1);
      const ly = (y(v) - 3).toFixed(1);
      out.push(
        `<text x="${lx}" y="${ly}" transform="rotate(-90 ${lx} ${ly})" font-size="9" fill="#333">${label(v)}</text>`,
      );
    });
    out.push(
      `<text x="${(PANEL.left + (g + 0.5) * groupWidth).toFixed(1)}" y="${PANEL.top + plotHeight + 16}" text-anchor="middle">${xml(group)}</text>`,
    );
  });
  out.push(
    `<line x1="${PANEL.left}" x2="${PANEL.left + plotWidth}" y1="${y(0)}" y2="${y(0)}" stroke="#333"/>`,
    `<line x1="${PANEL.left}" x2="${PANEL.left}" y1="${PANEL.top}" y2="${y(0)}" stroke="#333"/>`,
  );
  series.forEach((s, i) => {
    const ly = PANEL.height + i * LEGEND_LINE;
    out.push(
      `<rect x="${PANEL.left}" y="${ly - 9}" width="10" height="10" fill="${COLORS[i % COLORS.length]}"/>`,
      `<text x="${PANEL.left + 15}" y="${ly}">${xml(s.name)}</text>`,
    );
  });
  return out;
}

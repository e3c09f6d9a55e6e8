/** The latency-over-time chart of one peer (uPlot: canvas, no inline style sheet, so the strict CSP holds). */
import { html } from 'htm/preact';
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

const HEIGHT_PX = 160;

function columns(history: [number, number | null][]): uPlot.AlignedData {
  return [history.map(([t]) => t), history.map(([, ms]) => ms)];
}

export function LatencyChart({ history }: { history: [number, number | null][] }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    const el = box.current;
    if (el === null) return;
    const opts: uPlot.Options = {
      width: Math.max(240, el.clientWidth),
      height: HEIGHT_PX,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max ?? 1) * 1.15] } },
      axes: [{}, { label: 'ms', size: 50 }],
      series: [{}, { label: 'RTT', stroke: '#2a6fdb', width: 1.5, fill: 'rgba(42,111,219,0.08)', spanGaps: false, points: { show: false } }],
    };
    plot.current = new uPlot(opts, columns(history), el);
    const ro = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(240, el.clientWidth), height: HEIGHT_PX }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, []);

  useEffect(() => {
    plot.current?.setData(columns(history));
  }, [history]);

  const samples = history.filter(([, ms]) => ms !== null).length;
  return html`<div>
    <div class="cg-chart" ref=${box} role="img" aria-label=${`round-trip time, ${samples} samples`}></div>
    ${samples === 0 ? html`<p class="cg-muted">No RTT samples yet.</p>` : null}
  </div>`;
}

/**
 * A bar chart of avx's ratios against its peers, from the JSON every
 * comparison script saves under bench/out/ (the `rows` of `report`/`save`
 * in bench/harness.ts: workload, peer, ratio, > 1 meaning avx is ahead).
 * One bar per row, grouped by file (its title, date, core count and Deno
 * version underneath), on a log scale with a line at 1.0x; each bar
 * labelled with its workload, peer and ratio. Files without rows are
 * skipped; nothing is computed here, only drawn.
 *
 * Written to bench/out/ratios.svg and docs/bench-ratios.svg (the copy the
 * README shows). Plain SVG built as a string, no dependencies; laid out by
 * `deno fmt` (run as a subprocess) so that the committed copy passes
 * `deno fmt --check`.
 *
 *   deno run --allow-read=bench/out,deno.json --allow-write=bench/out,docs --allow-run bench/chart.ts
 *
 * @module
 */

/** One row of a comparison as saved (see `Row` in bench/harness.ts). */
export interface SavedRow {
  workload: string;
  unit: string;
  peerName: string;
  ratio: number;
  higherIsBetter: boolean;
}

/** One saved comparison. */
export interface Saved {
  file: string;
  title: string;
  date?: string;
  deno?: string;
  cores?: number;
  rows: SavedRow[];
}

const OUT = new URL("./out/", import.meta.url);
const TARGETS = [new URL("ratios.svg", OUT), new URL("../docs/bench-ratios.svg", import.meta.url)];

/** Every bench/out/*.json with rows, by file name. */
async function load(): Promise<Saved[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(OUT)) if (e.isFile && e.name.endsWith(".json")) names.push(e.name);
  const saved: Saved[] = [];
  for (const file of names.sort()) {
    let record: Partial<Saved>;
    try {
      record = JSON.parse(await Deno.readTextFile(new URL(file, OUT)));
    } catch (e) {
      console.error(`chart: skipping ${file}: ${e instanceof Error ? e.message : e}`);
      continue;
    }
    const rows = (Array.isArray(record.rows) ? record.rows : []).filter((r: SavedRow) => {
      const ok = typeof r?.workload === "string" && typeof r.peerName === "string" && Number.isFinite(r.ratio) &&
        r.ratio > 0;
      if (!ok) console.error(`chart: ${file}: skipping a row without a positive ratio: ${JSON.stringify(r)}`);
      return ok;
    });
    if (rows.length === 0) continue;
    saved.push({
      file,
      title: String(record.title ?? file),
      date: record.date,
      deno: record.deno,
      cores: record.cores,
      rows,
    });
  }
  return saved;
}

/** Escape text for SVG. */
function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** Shorten `s` to `max` characters. */
function clip(s: string, max: number): string {
  return s.length <= max ? s : s.slice(0, max - 1) + "\u2026";
}

/** The SVG of the chart of `saved`. */
export function render(saved: Saved[]): string {
  const ROW = 22;
  const HEADER = 40;
  const CHAR = 6.5; // Average width of a 12 px sans-serif character.
  const MAX_LABEL = 90;
  const labels = saved.flatMap((s) => s.rows.map((r) => clip(`${r.workload} vs ${r.peerName}`, MAX_LABEL)));
  const labelWidth = Math.ceil(Math.max(...labels.map((l) => l.length)) * CHAR) + 24;
  const barLeft = labelWidth;
  const barWidth = 440;
  const width = barLeft + barWidth + 70;
  const ratios = saved.flatMap((s) => s.rows.map((r) => r.ratio));
  const lo = Math.log10(Math.min(0.5, Math.min(...ratios) / 1.25));
  const hi = Math.log10(Math.max(2, Math.max(...ratios) * 1.25));
  const x = (ratio: number) => barLeft + ((Math.log10(ratio) - lo) / (hi - lo)) * barWidth;
  const top = 56;
  const height = top + saved.length * HEADER + ratios.length * ROW + 48;

  const ticks = [0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
    .filter((t) => Math.log10(t) >= lo && Math.log10(t) <= hi);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
      `font-family="system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="16" y="24" font-size="16" font-weight="bold" fill="#111">avx against its peers: ratio per workload</text>`,
    `<text x="16" y="42" fill="#555">&gt; 1x: avx ahead (throughput: avx / peer; time, latency, memory: peer / avx). ` +
      `Log scale. From bench/out/*.json.</text>`,
  );
  // Tick labels at the bottom; the grid is drawn per group, under its bars.
  for (const t of ticks) {
    out.push(
      `<text x="${x(t).toFixed(1)}" y="${height - 20}" text-anchor="middle" fill="${
        t === 1 ? "#111" : "#777"
      }">${t}x</text>`,
    );
  }
  const grid = (y0: number, y1: number) => {
    for (const t of ticks) {
      const tx = x(t).toFixed(1);
      const parity = t === 1;
      out.push(
        `<line x1="${tx}" y1="${y0}" x2="${tx}" y2="${y1}" stroke="${parity ? "#111" : "#e3e3e3"}" ` +
          `stroke-width="${parity ? 1.5 : 1}"${parity ? ' stroke-dasharray="4 3"' : ""}/>`,
      );
    }
  };
  let y = top;
  for (const s of saved) {
    const meta = [
      s.file,
      s.date?.slice(0, 10),
      s.cores === undefined ? undefined : `${s.cores} cores`,
      s.deno && `Deno ${s.deno}`,
    ]
      .filter(Boolean).join(" \u00b7 ");
    out.push(
      `<text x="16" y="${y + 18}" font-weight="bold" fill="#111">${esc(clip(s.title, 150))}</text>`,
      `<text x="16" y="${y + 33}" font-size="11" fill="#777">${esc(meta)}</text>`,
    );
    y += HEADER;
    grid(y, y + s.rows.length * ROW);
    for (const r of s.rows) {
      const mid = y + ROW / 2;
      const x1 = x(1);
      const xr = x(r.ratio);
      const ahead = r.ratio >= 1;
      const label = clip(`${r.workload} vs ${r.peerName}`, MAX_LABEL);
      out.push(
        `<text x="${barLeft - 10}" y="${mid + 4}" text-anchor="end" fill="#222">${esc(label)}</text>`,
        `<rect x="${Math.min(x1, xr).toFixed(1)}" y="${(mid - 7).toFixed(1)}" width="${
          Math.max(1, Math.abs(xr - x1)).toFixed(1)
        }" height="14" fill="${ahead ? "#2e8b57" : "#d9534f"}"><title>${
          esc(`${r.workload} vs ${r.peerName}: ${r.ratio.toFixed(2)}x`)
        }</title></rect>`,
        `<text x="${(Math.max(x1, xr) + 5).toFixed(1)}" y="${mid + 4}" font-weight="bold" fill="${
          ahead ? "#1f6b41" : "#b52b27"
        }">${r.ratio.toFixed(2)}x</text>`,
      );
      y += ROW;
    }
  }
  out.push("</svg>");
  return out.join("\n") + "\n";
}

/**
 * `svg` as `deno fmt` (with the project's deno.json) leaves it, so that the
 * committed copy passes `deno fmt --check`; `svg` itself, with a warning,
 * when the formatter cannot run (no `--allow-run`).
 */
async function formatted(svg: string): Promise<string> {
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["fmt", "--config", new URL("../deno.json", import.meta.url).pathname, "--ext=svg", "-"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(svg));
    await writer.close();
    const out = await child.output();
    if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
    return new TextDecoder().decode(out.stdout);
  } catch (e) {
    console.error(
      `chart: not formatted (deno fmt --check will flag docs/bench-ratios.svg): ${e instanceof Error ? e.message : e}`,
    );
    return svg;
  }
}

async function main(): Promise<void> {
  const saved = await load();
  if (saved.length === 0) {
    throw new Error("chart: no results with rows in bench/out/: run the comparison scripts first");
  }
  const svg = await formatted(render(saved));
  for (const target of TARGETS) {
    await Deno.mkdir(new URL("./", target), { recursive: true });
    await Deno.writeTextFile(target, svg);
    console.log(`wrote ${decodeURIComponent(target.pathname)}`);
  }
  for (const s of saved) console.log(`  ${s.file}: ${s.rows.length} rows`);
}

if (import.meta.main) await main();

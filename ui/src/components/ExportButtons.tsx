import type { RefObject } from "react";
import { download, standaloneSvg, svgToPng } from "../export";

/** "SVG" and "PNG" buttons that save the chart they sit on. */
export function ExportButtons({ svg, name }: { svg: RefObject<SVGSVGElement | null>; name: string }) {
  const save = async (kind: "svg" | "png") => {
    const el = svg.current;
    if (!el) return;
    const blob = kind === "svg" ? new Blob([standaloneSvg(el)], { type: "image/svg+xml" }) : await svgToPng(el);
    download(`${name}.${kind}`, blob);
  };
  return (
    <span className="export" data-testid={`export-${name}`}>
      <button className="link" onClick={() => save("svg")} title="save this chart as SVG">SVG</button>
      <button className="link" onClick={() => save("png")} title="save this chart as PNG">PNG</button>
    </span>
  );
}

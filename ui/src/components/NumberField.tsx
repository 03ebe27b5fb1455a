import { useEffect, useState } from "react";

interface Props {
  label: string;
  value: number;
  onChange: (v: number) => void;
  integer?: boolean;
  min?: number;
  max?: number;
  step?: number;
  title?: string;
  disabled?: boolean;
  /** Draw a slider beside the box, over [min, sliderMax]. */
  sliderMax?: number;
  changed?: boolean;
  name?: string;
}

/**
 * A number input that keeps what the user typed (so "0." or "" can be on the way
 * to a number) and only reports values that parse; a bad entry is marked, not sent.
 */
/** Four significant digits are plenty to read and type; the exact value stays in the settings. */
function display(v: number): string {
  return Number.isFinite(v) ? String(Number(v.toPrecision(4))) : "";
}

export function NumberField({ label, value, onChange, integer, min, max, step, title, disabled, sliderMax, changed, name }: Props) {
  const [text, setText] = useState(display(value));
  useEffect(() => {
    if (Number(text) !== value) setText(display(value));
    // Only an outside change of value should overwrite the text being typed.
  }, [value]);
  const parsed = text.trim() === "" ? NaN : Number(text);
  const accepts = (v: number) =>
    Number.isFinite(v) && (!integer || Number.isInteger(v)) && (min === undefined || v >= min) && (max === undefined || v <= max);
  const valid = accepts(parsed);
  const set = (s: string) => {
    setText(s);
    const v = s.trim() === "" ? NaN : Number(s);
    if (accepts(v)) onChange(v);
  };
  return (
    <label className={`field${valid ? "" : " invalid"}${changed ? " changed" : ""}`} title={title}>
      <span className="field-label">{label}</span>
      {sliderMax !== undefined ? (
        <input
          type="range"
          min={min ?? 0}
          max={sliderMax}
          step={step ?? "any"}
          value={Number.isFinite(value) ? value : 0}
          disabled={disabled}
          onChange={(e) => set(e.target.value)}
          aria-label={`${label} slider`}
        />
      ) : null}
      <input
        type="text"
        inputMode="decimal"
        name={name ?? label}
        value={text}
        disabled={disabled}
        onChange={(e) => set(e.target.value)}
        aria-invalid={!valid}
      />
    </label>
  );
}

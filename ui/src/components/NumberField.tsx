import { useEffect, useState } from "react";
import { sliderPosition, sliderValue, SLIDER_STEPS } from "../slider";
import { numberProblem } from "../validate";
import { FieldName } from "./FieldName";

interface Props {
  label: string;
  value: number;
  onChange: (v: number) => void;
  /** Called with the field's problem (or null) whenever it changes, so invalid entries block Generate. */
  onProblem?: (name: string, problem: string | null) => void;
  integer?: boolean;
  min?: number;
  max?: number;
  title?: string;
  disabled?: boolean;
  /** Draw a full-width slider under the box, over [0, sliderMax] on a square-root track. */
  sliderMax?: number;
  changed?: boolean;
  name?: string;
}

/** Four significant digits are plenty to read and type; the exact value stays in the settings. */
function display(v: number): string {
  return Number.isFinite(v) ? String(Number(v.toPrecision(4))) : "";
}

/**
 * A number input that keeps what the user typed (so "0." or "" can be on the way
 * to a number) and only reports values that parse; a bad entry is marked and its
 * reason reported through onProblem, never replaced by the last good value.
 */
export function NumberField({ label, value, onChange, onProblem, integer, min, max, title, disabled, sliderMax, changed, name }: Props) {
  const [text, setText] = useState(display(value));
  useEffect(() => {
    if (Number(text) !== value) setText(display(value));
    // Only an outside change of value should overwrite the text being typed.
  }, [value]);
  const key = name ?? label;
  const problem = numberProblem(label, text, { integer, min, max });
  useEffect(() => {
    onProblem?.(key, problem);
  }, [key, problem]);
  useEffect(() => () => onProblem?.(key, null), [key]);
  const set = (s: string) => {
    setText(s);
    if (numberProblem(label, s, { integer, min, max }) === null) onChange(Number(s));
  };
  return (
    <label className={`field${problem ? " invalid" : ""}${changed ? " changed" : ""}${sliderMax !== undefined ? " with-slider" : ""}`} title={title}>
      <span className="field-label"><FieldName name={label} /></span>
      <input
        type="text"
        inputMode="decimal"
        name={key}
        value={text}
        disabled={disabled}
        onChange={(e) => set(e.target.value)}
        aria-invalid={problem !== null}
      />
      {sliderMax !== undefined ? (
        <input
          type="range"
          min={0}
          max={SLIDER_STEPS}
          step={1}
          value={sliderPosition(value, sliderMax)}
          disabled={disabled}
          onChange={(e) => set(String(sliderValue(Number(e.target.value), sliderMax)))}
          aria-label={`${label} slider`}
          data-testid={`slider-${key}`}
        />
      ) : null}
      {problem ? <span className="field-problem">{problem}</span> : null}
    </label>
  );
}

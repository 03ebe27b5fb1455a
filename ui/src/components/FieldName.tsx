import { Fragment } from "react";

/** A field name that may wrap after its underscores (and nowhere else). */
export function FieldName({ name }: { name: string }) {
  return (
    <>
      {name.split("_").map((part, i) => (
        <Fragment key={i}>
          {i ? <>_<wbr /></> : null}
          {part}
        </Fragment>
      ))}
    </>
  );
}

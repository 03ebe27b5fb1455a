// Hover details for the trace plot. Every value is written with textContent,
// never as markup: token text comes from a model and may contain anything.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("trace-data").textContent);
  var tip = document.getElementById("tip");
  var current = null;
  var METRIC_NOTES = { agreement: " (shrinks ~1/context)" };

  function fmt(v) {
    if (typeof v !== "number") return String(v);
    return Number.isInteger(v) ? String(v) : v.toPrecision(4);
  }

  function addRow(table, name, value) {
    var tr = table.insertRow();
    tr.insertCell().textContent = name;
    tr.insertCell().textContent = fmt(value);
  }

  function fill(t) {
    tip.replaceChildren();
    var text = document.createElement("div");
    text.className = "tip-text";
    text.textContent = JSON.stringify(t.text);
    var head = document.createElement("div");
    var swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = data.colors[t.outcome];
    head.appendChild(swatch);
    head.appendChild(document.createTextNode(
      "#" + t.index + " · " + t.outcome + (t.inserted ? " (inserted)" : "") + " · logprob " + fmt(t.logprob)));
    var table = document.createElement("table");
    Object.keys(t.metrics).forEach(function (k) {
      addRow(table, k + (METRIC_NOTES[k] || ""), t.metrics[k]);
    });
    Object.keys(t.params).forEach(function (k) { addRow(table, k, t.params[k]); });
    tip.append(text, head, table);
  }

  function highlight(i, on) {
    document.querySelectorAll('[data-i="' + i + '"]').forEach(function (el) {
      el.classList.toggle("hl", on);
    });
  }

  function place(ev) {
    var pad = 14, w = tip.offsetWidth, h = tip.offsetHeight;
    var x = ev.clientX + pad, y = ev.clientY + pad;
    if (x + w > window.innerWidth) x = ev.clientX - w - pad;
    if (y + h > window.innerHeight) y = Math.max(0, ev.clientY - h - pad);
    tip.style.left = x + "px";
    tip.style.top = y + "px";
  }

  document.addEventListener("mouseover", function (ev) {
    var el = ev.target.closest("[data-i]");
    var i = el ? Number(el.getAttribute("data-i")) : null;
    if (i === current) return;
    if (current !== null) highlight(current, false);
    current = i;
    if (i === null) { tip.hidden = true; return; }
    fill(data.tokens[i]);
    highlight(i, true);
    tip.hidden = false;
    place(ev);
  });
  document.addEventListener("mousemove", function (ev) { if (!tip.hidden) place(ev); });
})();

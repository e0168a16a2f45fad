// digits' page: draw or choose a photo, send it to /api/predict, show what the model read.
// Plain JavaScript, no build step, nothing loaded from elsewhere.
"use strict";

const pad = document.getElementById("pad");
const ink = pad.getContext("2d");
const $ = (id) => document.getElementById(id);
const LINE_WIDTH = pad.height * 0.06;  // after the model's 28x28 reduction: MNIST's stroke width
const READ_DELAY_MS = 300;  // a reading once the pen pauses, not at every pointer move

const strokes = [];  // each stroke: a list of [x, y] in canvas pixels
let current = null;  // the stroke being drawn
let pen = null;  // the pointer drawing it (a second finger meanwhile is ignored)
let source = "drawing";  // what the reading shows, sent as the API's source: "drawing" or "photo"
let photo = null;  // the last photo chosen (a File)
let timer = null;
let request = null;  // the AbortController of the request in flight
let sequence = 0;  // only the latest request may show its answer

function paper() {
  ink.fillStyle = "#fff";
  ink.fillRect(0, 0, pad.width, pad.height);
  ink.strokeStyle = ink.fillStyle = "#111";
  ink.lineWidth = LINE_WIDTH;
  ink.lineCap = ink.lineJoin = "round";
}

function drawSegment(from, to) {
  ink.beginPath();
  ink.moveTo(from[0], from[1]);
  ink.lineTo(to[0], to[1]);
  ink.stroke();
}

function drawStroke(points) {
  if (points.length === 1) {  // a tap: a dot
    ink.beginPath();
    ink.arc(points[0][0], points[0][1], LINE_WIDTH / 2, 0, 2 * Math.PI);
    ink.fill();
  }
  for (let i = 1; i < points.length; i++) drawSegment(points[i - 1], points[i]);
}

function redraw() {
  paper();
  strokes.forEach(drawStroke);
  $("undo").disabled = $("clear").disabled = strokes.length === 0;
}

function canvasPoint(event) {
  const box = pad.getBoundingClientRect();
  return [(event.clientX - box.left) * pad.width / box.width,
          (event.clientY - box.top) * pad.height / box.height];
}

pad.addEventListener("pointerdown", (event) => {
  if (current || (event.pointerType === "mouse" && event.button !== 0)) return;
  event.preventDefault();
  pad.setPointerCapture(event.pointerId);
  pen = event.pointerId;
  current = [canvasPoint(event)];
  strokes.push(current);
  source = "drawing";
  $("photo-preview").hidden = true;  // the reading is of the drawing now
  drawStroke(current);
  $("undo").disabled = $("clear").disabled = false;
});

pad.addEventListener("pointermove", (event) => {
  if (!current || event.pointerId !== pen) return;
  event.preventDefault();
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
  for (const each of events.length ? events : [event]) {
    const point = canvasPoint(each);
    drawSegment(current[current.length - 1], point);
    current.push(point);
  }
  scheduleReading(READ_DELAY_MS);
});

for (const type of ["pointerup", "pointercancel"]) {
  pad.addEventListener(type, (event) => {
    if (!current || event.pointerId !== pen) return;
    current = pen = null;
    scheduleReading(READ_DELAY_MS / 2);
  });
}

$("undo").addEventListener("click", () => {
  strokes.pop();
  redraw();
  source = "drawing";
  scheduleReading(0);
});

$("clear").addEventListener("click", () => {
  strokes.length = 0;
  redraw();
  source = "drawing";
  $("photo-preview").hidden = true;
  scheduleReading(0);
});

for (const id of ["photo", "camera"]) {
  $(id).addEventListener("change", (event) => {
    const file = event.target.files[0];
    event.target.value = "";  // choosing the same file again is a new choice
    if (!file) return;
    photo = file;
    source = "photo";
    const preview = $("photo-image");
    if (preview.src) URL.revokeObjectURL(preview.src);
    preview.src = URL.createObjectURL(file);
    $("photo-name").textContent = file.name;
    $("photo-preview").hidden = false;
    read();
  });
}

$("photo-image").addEventListener("error", () => { $("photo-preview").hidden = true; });

for (const radio of document.querySelectorAll('input[name="mode"]')) {
  radio.addEventListener("change", () => read());
}

function mode() {
  return document.querySelector('input[name="mode"]:checked').value;
}

function scheduleReading(delay) {
  clearTimeout(timer);
  timer = setTimeout(read, delay);
}

function read() {
  clearTimeout(timer);
  if (source === "photo" && photo) {
    send(photo, photo.name);
  } else if (strokes.length === 0) {
    cancel();
    showIdle();
  } else {
    pad.toBlob((blob) => send(blob, "drawing.png"), "image/png");
  }
}

function cancel() {
  sequence += 1;
  if (request) request.abort();
  request = null;
}

async function send(blob, name) {
  cancel();
  const mine = sequence;
  request = new AbortController();
  const form = new FormData();
  form.append("file", blob, name);
  setStatus("Reading…");
  try {
    const response = await fetch(`api/predict?mode=${mode()}&source=${source}&image=true`,
                                 {method: "POST", body: form, signal: request.signal});
    const body = await response.json().catch(() => null);
    if (mine !== sequence) return;
    if (!response.ok) {
      showError(explain(response.status, body));
    } else if (body.error) {
      showError(`Nothing to read: ${body.error}.`);
    } else {
      showReading(body);
    }
  } catch (error) {
    if (mine !== sequence || error.name === "AbortError") return;
    showError("The server could not be reached. Is digits-serve still running?");
  }
}

function explain(status, body) {
  const reason = body && typeof body.detail === "string" ? body.detail : `error ${status}`;
  if (status === 413) return `This file is too large: ${reason}.`;
  if (status === 422) return `This file could not be read: ${reason}.`;
  return `The server could not read this: ${reason}.`;
}

function setStatus(text) {
  $("status").textContent = text;
}

function showIdle() {
  $("error").hidden = true;
  $("result").hidden = true;
  setStatus("Draw in the box, or choose a photo.");
}

function showError(text) {
  $("result").hidden = true;
  $("error").textContent = text;
  $("error").hidden = false;
  setStatus("No reading.");
}

function percent(p) {
  if (p > 0.999) return ">99.9%";
  if (p < 0.001) return "<0.1%";
  return `${(100 * p).toFixed(p > 0.99 || p < 0.01 ? 1 : 0)}%`;
}

function showReading(body) {
  const number = mode() === "number";
  const answer = number ? body.number : String(body.digit);
  $("error").hidden = true;
  $("answer").textContent = answer;
  $("confidence").textContent = `${percent(body.confidence)} sure`;
  $("low-confidence").hidden = !body.low_confidence;
  showSeen(body);
  $("digit-details").hidden = number;
  $("number-details").hidden = !number;
  if (number) showDigits(body.digits); else showProbabilities(body);
  $("result").hidden = false;
  setStatus(`The model reads ${answer}, ${percent(body.confidence)} sure` +
            (body.low_confidence ? " (low confidence)." : "."));
}

function showSeen(body) {
  // a number reader reads the whole line; a digit reader, one 28x28 image per digit
  const line = body.reader === "sequence";
  $("seen").src = `data:image/png;base64,${body.image}`;
  $("seen").alt = line ? "The line the number reader saw"
                       : "The 28 by 28 pixel image the model saw";
  $("seen-caption").textContent = line ? "What the number reader saw (its line, 32 pixels high)"
                                       : "What the model saw (28\u00a0×\u00a028 pixels per digit)";
}

function listItem(text, className) {
  const item = document.createElement("li");
  item.textContent = text;
  if (className) item.className = className;
  return item;
}

function showProbabilities(body) {
  $("top3").replaceChildren(...body.top3.map(
    (t) => listItem(`${t.digit}: ${percent(t.confidence)}`)));
  const rows = body.probabilities.map((p, digit) => {
    const row = listItem("", digit === body.digit ? "top" : "");
    const label = document.createElement("span");
    label.className = "digit";
    label.textContent = digit;
    const track = document.createElement("span");
    track.className = "track";
    track.setAttribute("aria-hidden", "true");
    const fill = document.createElement("span");
    fill.className = "fill";
    fill.style.width = `${(100 * p).toFixed(1)}%`;
    fill.style.display = "block";
    track.append(fill);
    const value = document.createElement("span");
    value.className = "value";
    value.textContent = percent(p);
    row.append(label, track, value);
    return row;
  });
  $("bars").replaceChildren(...rows);
}

function showDigits(digits) {
  $("digits").replaceChildren(...digits.map((d) => {
    const item = listItem("", d.low_confidence ? "low" : "");
    const big = document.createElement("span");
    big.className = "digit";
    big.textContent = d.digit;
    const detail = document.createElement("span");
    detail.className = "small";
    detail.textContent = `${percent(d.confidence)} sure`;
    item.append(big, detail);
    if (d.top3) {  // a digit cut out and read alone has a runner-up; a number reader's has none
      const next = document.createElement("span");
      next.className = "small";
      next.textContent = `next: ${d.top3[1].digit} (${percent(d.top3[1].confidence)})`;
      item.append(next);
    }
    return item;
  }));
}

redraw();

// The static page: loads onnxruntime-web and the exported models named in site.json, then draws the
// greedy and sampled continuations as generation.js makes them (typing playback, loop highlight).
// Everything comes from this folder: no CDN, no server code; it works offline once loaded.
//
// window.chargen exposes the page's state for tests and benchmarks: state.finished, state.data.seed,
// text(which), and the timings of the last generation (state.timings).
import { codePoints, describeLoop, StepModel } from "./generation.js";

const TYPING_FRAMES = 150; // a typed-out text takes about this many animation frames, at least a character each
const MAX_SEED = 4294967295; // mulberry32's seeds are 32-bit

const q = (selector) => document.querySelector(selector);
// load: when each part of the page's start finished (ms); timings: the last generation's.
const state = { ready: false, finished: false, running: false, data: {}, timings: {}, load: {}, shown: 0, error: "" };
const texts = { greedy: [], sampled: [] }; // code points made so far (the final texts once done)
const models = new Map(); // name -> Promise<StepModel>
let site = null;
let ort = null;
let stopRequested = false;
let generation = 0; // bumps on each Generate, so a stale playback stops drawing

function setStatus(text) {
  q("#status").textContent = text;
}

async function fetchBytes(path) {
  const response = await fetch(path);
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

// The WebAssembly runtime ships gzipped (3.8 MB instead of 14.8 MB); a server that already undid the
// gzip (Content-Encoding) hands over the plain module, which starts with "\0asm" instead of 1f 8b.
async function gunzipIfNeeded(bytes) {
  if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes;
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function loadRuntime() {
  const started = performance.now();
  ort = await import(`./${site.ort.module}`);
  ort.env.wasm.numThreads = 1; // threads need cross-origin isolation, which a static Space does not set
  ort.env.wasm.proxy = false;
  const packed = await fetchBytes(site.ort.wasm);
  state.load.runtimeFetchMs = performance.now() - started;
  ort.env.wasm.wasmBinary = await gunzipIfNeeded(packed);
  state.load.runtimeMs = performance.now() - started;
}

function loadModel(name) {
  if (!models.has(name)) {
    const entry = site.models.find((m) => m.name === name);
    const promise = (async () => {
      const description = await (await fetch(`${entry.folder}/export.json`)).json();
      const graph = await fetchBytes(`${entry.folder}/${description.graph}`);
      return StepModel.load(ort, description, graph);
    })();
    models.set(name, promise);
  }
  return models.get(name);
}

function selectedModelName() {
  return q("#model-box").value || site.models[0].name;
}

function describeModel(model) {
  const d = model.description;
  const unit = d.unit === "word" ? "word-level (a step writes a word or a character)" : "character-level";
  return `${d.name}: ${d.cell.toUpperCase()}, ${d.layers} x ${d.hidden}, ${d.parameters.toLocaleString("en")} weights, ` +
    `${unit}, ${d.vocab.length} tokens; weights in ${d.precision} (greedy text = ` +
    `chargen.compare(..., precision="${d.precision}"))`;
}

function readNumber(selector, low, high, fallback) {
  const value = Number(q(`${selector} input[type=number]`).value);
  return Number.isFinite(value) ? Math.min(high, Math.max(low, value)) : fallback;
}

function readSeed() {
  const text = q("#seed-box").value.trim();
  if (/^\d+$/.test(text) && Number(text) <= MAX_SEED) return Number(text);
  const fresh = new Uint32Array(1);
  crypto.getRandomValues(fresh);
  return fresh[0];
}

function clearPanes() {
  for (const which of ["greedy", "sampled"]) q(`#${which} .cg-text`).replaceChildren();
  q("#loop_line").textContent = "";
  q("#seed_line").textContent = "";
}

// Append characters [from, to) of a text to its pane, one span per character (the loop marks them later).
function reveal(which, from, to) {
  const pane = q(`#${which} .cg-text`);
  const fragment = document.createDocumentFragment();
  const chars = texts[which];
  for (let i = from; i < to; i++) {
    const span = document.createElement("span");
    span.className = "c";
    span.dataset.i = String(i);
    span.textContent = chars[i];
    fragment.append(span);
  }
  pane.append(fragment);
}

function markLoop(loop) {
  if (!loop) return;
  const spans = q("#greedy .cg-text").children;
  for (let i = loop.start; i < spans.length; i++) {
    const copy = Math.floor((i - loop.start) / loop.period);
    const span = spans[i];
    span.classList.add("loop", copy === 0 ? "first" : "rep", copy % 2 ? "odd" : "even");
    if ((i - loop.start) % loop.period === 0) span.classList.add("copy-start");
    span.title = `character ${i + 1}: copy ${copy + 1} of the loop`;
  }
}

// Draws both texts as they grow, in lockstep, once per animation frame; resolves when all is shown.
function playback(run, length, playbackMode, result) {
  const perFrame = playbackMode === "instant" ? Infinity : Math.max(1, Math.ceil(length / TYPING_FRAMES));
  let shown = 0;
  return new Promise((resolve) => {
    const frame = () => {
      if (run !== generation) return resolve(false);
      const available = Math.min(texts.greedy.length, texts.sampled.length, length);
      const target = Math.min(available, shown + perFrame);
      if (target > shown) {
        reveal("greedy", shown, target);
        reveal("sampled", shown, target);
        if (shown === 0) state.timings.firstCharMs = performance.now() - state.timings.clicked;
        shown = target;
        state.shown = shown;
      }
      if (result.done && shown >= Math.min(texts.greedy.length, texts.sampled.length)) return resolve(true);
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  });
}

async function generate() {
  const run = ++generation;
  const clicked = performance.now();
  stopRequested = false;
  state.finished = false;
  state.running = true;
  state.error = "";
  state.timings = { clicked };
  texts.greedy = [];
  texts.sampled = [];
  state.shown = 0;
  clearPanes();
  const prompt = q("#prompt-box").value;
  const temperature = readNumber("#temperature", 0, 2, 0.8);
  const length = Math.round(readNumber("#length", 1, 5000, 300));
  const seed = readSeed();
  const playbackMode = q("#playback input:checked").value;
  state.data = { seed: String(seed), temperature, length, prompt, model: selectedModelName() };
  q("#generate").disabled = true;
  try {
    if (!state.ready) setStatus("Loading the model… (once; then it generates offline)");
    await window.chargen.ready;
    const model = await loadModel(selectedModelName());
    if (run !== generation) return;
    setStatus("Generating…");
    const result = { done: false };
    const shown = playback(run, length, playbackMode, result);
    const started = performance.now();
    const made = await model.compare(
      prompt,
      length,
      temperature,
      seed,
      (step) => {
        texts.greedy.push(...codePoints(step.greedy));
        texts.sampled.push(...codePoints(step.sampled));
      },
      () => stopRequested || run !== generation,
    );
    const elapsed = performance.now() - started;
    if (run !== generation) return;
    texts.greedy = codePoints(made.greedy);
    texts.sampled = codePoints(made.sampled);
    result.done = true;
    await shown;
    if (run !== generation) return;
    Object.assign(state.timings, { generationMs: elapsed, steps: made.steps, charsPerSecond: (1000 * texts.greedy.length) / elapsed });
    state.data = { ...state.data, greedy: made.greedy, sampled: made.sampled, prompt_used: made.prompt, loop: made.loop };
    markLoop(made.loop);
    q("#loop_line").textContent = made.loop ? describeLoop(made.loop) : "no loop in the greedy text";
    q("#seed_line").textContent = `seed ${seed}`;
    const dropped = made.dropped.length ? ` Dropped characters the model does not know: ${made.dropped.join(" ")}` : "";
    setStatus(`${made.steps} steps in ${(elapsed / 1000).toFixed(2)} s (${Math.round((1000 * made.steps) / elapsed)} steps/s).${dropped}`);
  } catch (error) {
    state.error = String(error);
    setStatus(`Could not generate: ${error}`);
  } finally {
    if (run === generation) {
      q("#generate").disabled = false;
      state.running = false;
      state.finished = true;
    }
  }
}

function pairInputs(selector) {
  const range = q(`${selector} input[type=range]`);
  const number = q(`${selector} input[type=number]`);
  range.addEventListener("input", () => (number.value = range.value));
  number.addEventListener("input", () => (range.value = number.value));
}

async function start() {
  site = await (await fetch("site.json")).json();
  document.title = site.title;
  q("#site-title").textContent = site.title;
  const picker = q("#model-box");
  for (const entry of site.models) picker.append(new Option(entry.name, entry.name));
  q("#model").hidden = site.models.length < 2;
  await loadRuntime();
  const model = await loadModel(site.models[0].name);
  state.load.readyMs = performance.now(); // from navigation: runtime, model fetched, session made
  q("#facts").textContent = describeModel(model);
  picker.addEventListener("change", async () => {
    q("#facts").textContent = describeModel(await loadModel(selectedModelName()));
  });
  state.ready = true;
  setStatus("Ready: generation runs in this page.");
}

pairInputs("#temperature");
pairInputs("#length");
q("#generate").addEventListener("click", generate);
q("#generate").disabled = false; // off in the HTML until this listener exists; a click now waits for the model
q("#stop").addEventListener("click", () => (stopRequested = true));
q("#prompt-box").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    generate();
  }
});
for (const button of document.querySelectorAll("[data-copy]")) {
  button.addEventListener("click", () => navigator.clipboard?.writeText(texts[button.dataset.copy].join("")));
}
window.chargen = {
  state,
  text: (which) => texts[which].join(""),
  model: (name) => loadModel(name || site.models[0].name), // the StepModel (benchmarks time its steps)
  ready: start().catch((error) => {
    state.error = String(error);
    setStatus(`Could not load: ${error}`);
    throw error;
  }),
};

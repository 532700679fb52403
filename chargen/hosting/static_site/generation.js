// chargen in the browser: the library's generation ported to JavaScript over an exported one-step
// ONNX graph (`python -m chargen export --format onnx`). No DOM here: page.js draws, this computes.
//
// What must match chargen exactly (so the greedy text equals `chargen.compare(..., precision=P)`):
// preparePrompt (chargen.inference.generate.prepare_prompt), splitTokens (chargen.vocab.split_tokens),
// the step loop and lengths (TextLength: a word model stops once both rows wrote `length` characters,
// both texts cut to `length` characters), greedy as the first of equal maxima (torch.argmax), and
// findLoop (chargen.inference.loops.find_loop). Characters are Unicode code points, as in Python.

export const MAX_PROMPT_CHARS = 5000;
export const MAX_LENGTH = 5000;
export const MIN_LOOP_CHARS = 8;

// Python's `\s` (str.isspace) spelled out: JavaScript's `\s` differs (it has U+FEFF, lacks U+001C..U+001F).
const SPACE = "\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
// chargen.vocab.TOKEN_PATTERN: a word (letters, digits, apostrophes), a whitespace run, or any other character.
const TOKEN_PATTERN = new RegExp(`[\\p{L}\\p{N}'\\u2019]+|[${SPACE}]+|.`, "gsu");

/** A text cut into words, whitespace runs and single other characters; joined they give it back. */
export function splitTokens(text) {
  return text.match(TOKEN_PATTERN) || [];
}

/** The code points of a text (what Python's len and indexing count). */
export function codePoints(text) {
  return Array.from(text);
}

/**
 * mulberry32: a 32-bit seeded PRNG (Tommy Ettinger, public domain). Returns a function giving
 * floats in [0, 1); the same seed (an integer 0..2^32-1) gives the same sequence in every browser.
 */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return function next() {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The index of the largest of `values[start .. start + size)`, the first of equal maxima (as torch.argmax). */
export function argmax(values, start, size) {
  let best = 0;
  let bestValue = values[start];
  for (let i = 1; i < size; i++) {
    if (values[start + i] > bestValue) {
      bestValue = values[start + i];
      best = i;
    }
  }
  return best;
}

/**
 * One draw from softmax(logits / temperature) over `values[start .. start + size)`: the first index
 * whose cumulative probability exceeds `u` (a PRNG draw in [0, 1)). Temperature 0 is the argmax.
 */
export function sample(values, start, size, temperature, u) {
  if (!(temperature > 0)) return argmax(values, start, size);
  const top = values[start + argmax(values, start, size)];
  const weights = new Float64Array(size);
  let total = 0;
  for (let i = 0; i < size; i++) {
    weights[i] = Math.exp((values[start + i] - top) / temperature);
    total += weights[i];
  }
  let target = u * total;
  let last = 0;
  for (let i = 0; i < size; i++) {
    if (weights[i] > 0) last = i;
    target -= weights[i];
    if (target < 0) return i;
  }
  return last; // u * total rounded up to the total: the last token with any weight
}

/** chargen.inference.loops.find_loop over an array of code points: {start, period, unit, length} or null. */
export function findLoop(chars, minRepeats = 2, minLength = MIN_LOOP_CHARS) {
  const n = chars.length;
  const reversed = chars.slice().reverse();
  const z = new Array(n).fill(0);
  if (n) z[0] = n;
  let left = 0;
  let right = 0;
  for (let i = 1; i < n; i++) {
    if (i < right) z[i] = Math.min(right - i, z[i - left]);
    while (i + z[i] < n && reversed[z[i]] === reversed[i + z[i]]) z[i]++;
    if (i + z[i] > right) {
      left = i;
      right = i + z[i];
    }
  }
  const tails = new Map();
  for (let period = 1; period <= Math.floor(n / minRepeats); period++) {
    const length = z[period] + period;
    if (length >= minRepeats * period && length >= minLength) tails.set(period, length);
  }
  if (!tails.size) return null;
  const longest = Math.max(...tails.values());
  let period = Infinity;
  for (const [p, length] of tails) if (length > longest - p && p < period) period = p;
  const start = n - tails.get(period);
  return { start, period, unit: chars.slice(start, start + period).join(""), length: tails.get(period) };
}

/** chargen's Loop.describe(): "greedy output repeats every 23 characters from character 140" (counted from 1). */
export function describeLoop(loop, what = "greedy output") {
  const unit = loop.period === 1 ? "character" : "characters";
  return `${what} repeats every ${loop.period} ${unit} from character ${loop.start + 1}`;
}

/** An exported model's vocabulary (export.json): encoding as chargen.vocab.Vocab does. */
export class Vocab {
  constructor(tokens, unit) {
    this.tokens = tokens;
    this.unit = unit;
    this.index = new Map(tokens.map((token, i) => [token, i]));
    this.chars = new Set(tokens.filter((token) => codePoints(token).length === 1));
    this.lengths = tokens.map((token) => codePoints(token).length);
  }

  encode(text) {
    if (this.unit === "char") return codePoints(text).map((ch) => this.index.get(ch));
    const ids = [];
    for (const token of splitTokens(text)) {
      const found = this.index.get(token);
      if (found === undefined) for (const ch of codePoints(token)) ids.push(this.index.get(ch));
      else ids.push(found);
    }
    return ids;
  }

  decode(ids) {
    return ids.map((id) => this.tokens[id]).join("");
  }
}

/** chargen's prepare_prompt: unknown characters dropped, the default prompt when none is left, bounded. */
export function preparePrompt(vocab, prompt, defaultPrompt = "\n") {
  const chars = codePoints(prompt);
  const kept = chars.filter((ch) => vocab.chars.has(ch));
  const dropped = [...new Set(chars.filter((ch) => !vocab.chars.has(ch)))];
  let ids = vocab.encode(kept.join(""));
  if (!ids.length) ids = vocab.encode(vocab.index.has(defaultPrompt) ? defaultPrompt : vocab.tokens[0]);
  if (vocab.unit === "char") {
    ids = ids.slice(-MAX_PROMPT_CHARS);
  } else {
    let start = ids.length;
    let written = 0;
    while (start > 0 && written + vocab.lengths[ids[start - 1]] <= MAX_PROMPT_CHARS) {
      start--;
      written += vocab.lengths[ids[start]];
    }
    ids = ids.slice(Math.min(start, ids.length - 1));
  }
  return { ids, text: vocab.decode(ids), dropped };
}

// onnxruntime-web's single-threaded run resolves without giving the browser a frame, so a long
// generation yields now and then (a message, not setTimeout, which waits >= 4 ms when nested).
const YIELD_EVERY_MS = 12;
function yieldToBrowser() {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => resolve();
    channel.port2.postMessage(null);
  });
}

/** One exported model in an onnxruntime-web session: primes a prompt and steps greedy and sampled rows. */
export class StepModel {
  /** `ort` is onnxruntime-web's module, `description` the model's export.json, `graph` its bytes. */
  static async load(ort, description, graph) {
    const session = await ort.InferenceSession.create(graph, {
      executionProviders: ["wasm"],
      graphOptimizationLevel: "all",
    });
    return new StepModel(ort, description, session);
  }

  constructor(ort, description, session) {
    this.ort = ort;
    this.description = description;
    this.session = session;
    this.vocab = new Vocab(description.vocab, description.unit);
    this.states = description.inputs.slice(1); // "h", and "c" for an LSTM
  }

  /** Run one step for `tokens` (one id per row) from `state` ({h, c}: Float32Arrays [layers, rows, hidden]). */
  async step(tokens, state) {
    const { layers, hidden } = this.description;
    const rows = tokens.length;
    const feeds = { token: new this.ort.Tensor("int64", BigInt64Array.from(tokens, BigInt), [rows]) };
    for (const name of this.states) feeds[name] = new this.ort.Tensor("float32", state[name], [layers, rows, hidden]);
    const out = await this.session.run(feeds);
    const next = {};
    for (const name of this.states) next[name] = out[`${name}_out`].data;
    return { logits: out.logits.data, state: next };
  }

  /** The state and logits after `ids`, fed one step at a time from zeros on one row, copied to `rows` rows. */
  async prime(ids, rows) {
    const { layers, hidden } = this.description;
    let state = Object.fromEntries(this.states.map((name) => [name, new Float32Array(layers * hidden)]));
    let logits = null;
    for (const id of ids) ({ logits, state } = await this.step([id], state));
    const wide = {};
    for (const name of this.states) {
      wide[name] = new Float32Array(layers * rows * hidden);
      for (let layer = 0; layer < layers; layer++) {
        const one = state[name].subarray(layer * hidden, (layer + 1) * hidden);
        for (let row = 0; row < rows; row++) wide[name].set(one, (layer * rows + row) * hidden);
      }
    }
    const size = this.vocab.tokens.length;
    const wideLogits = new Float32Array(rows * size);
    for (let row = 0; row < rows; row++) wideLogits.set(logits, row * size);
    return { logits: wideLogits, state: wide };
  }

  /**
   * Greedy and sampled continuations of `prompt`, `length` characters each (chargen.compare's loop).
   * `onStep({greedy, sampled})` gets each step's tokens as they are chosen; `shouldStop()` ends early.
   * Returns {greedy, sampled, prompt, loop, steps}.
   */
  async compare(prompt, length, temperature, seed, onStep = () => {}, shouldStop = () => false) {
    const vocab = this.vocab;
    const size = vocab.tokens.length;
    const prepared = preparePrompt(vocab, prompt, this.description.default_prompt);
    const random = mulberry32(seed);
    let { logits, state } = await this.prime(prepared.ids, 2);
    const chosen = [[], []];
    const written = [0, 0];
    let yielded = performance.now();
    for (let step = 0; step < length; step++) {
      if (performance.now() - yielded > YIELD_EVERY_MS) {
        await yieldToBrowser();
        yielded = performance.now();
      }
      const greedy = argmax(logits, 0, size);
      const sampled = temperature > 0 ? sample(logits, size, size, temperature, random()) : argmax(logits, size, size);
      chosen[0].push(greedy);
      chosen[1].push(sampled);
      written[0] += vocab.lengths[greedy];
      written[1] += vocab.lengths[sampled];
      onStep({ greedy: vocab.tokens[greedy], sampled: vocab.tokens[sampled] });
      const done = vocab.unit === "char" ? step + 1 >= length : Math.min(...written) >= length;
      if (done || shouldStop()) break;
      ({ logits, state } = await this.step([greedy, sampled], state));
    }
    const cut = (ids) => codePoints(vocab.decode(ids)).slice(0, length).join("");
    const greedy = cut(chosen[0]);
    return {
      greedy,
      sampled: cut(chosen[1]),
      prompt: prepared.text,
      dropped: prepared.dropped,
      loop: findLoop(codePoints(greedy)),
      steps: chosen[0].length,
    };
  }
}

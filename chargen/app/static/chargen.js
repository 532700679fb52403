// The lesson page's behaviour: it animates the server's few coalesced updates (instant, typing or step by
// step), draws whitespace as markers, the loop highlight and the surprise shading, draws the chart of the
// distribution at a clicked step, and keeps the page's state in its URL. The events' js= one-liners call
// window.chargen; the values the server decides come in window.chargenConfig (chargen/app/page.py).
window.chargen = (() => {
  const {
    markers: MARKERS, modes: MODES, typingFrames: TYPING_FRAMES, chartRows: CHART_ROWS, maxLength: MAX_LENGTH,
  } = window.chargenConfig;
  const S = {
    data: null, settings: null, shown: 0, from: 0, perFrame: 1, stopped: false, raf: null,
    finished: false, sel: null, urlParams: null, distTimer: null, pendingDist: null, rendered: {greedy: 0, sampled: 0},
    steps: {greedy: null, sampled: null}, revealChart: false, redraw: null, previous: null, seedToUse: "", chart: null,
  };
  const WIDE_LAYOUT = "(min-width: 761px)";  // the texts beside the controls and the chart (chargen.css)
  const q = (sel) => document.querySelector(sel);
  // The page's words in its language (i18n.js, loaded first): every sentence here is a catalogue entry.
  const I18N = window.chargenI18n;
  const t = (key, values) => I18N.t(key, values);
  // Put `key`'s words in `el`; the values named in `quoted` are text a model wrote or a visitor typed, shown as
  // they are (in a .cg-quoted span: never translated, and not the page's own words).
  function say(el, key, values = {}, quoted = []) {
    el.replaceChildren();
    t(key).split(/\{(\w+)\}/).forEach((part, i) => {
      if (i % 2 === 0) { if (part) el.append(part); return; }
      const value = part in values ? String(values[part]) : `{${part}}`;
      if (!quoted.includes(part)) { el.append(value); return; }
      const span = document.createElement("span");
      span.className = "cg-quoted";
      span.textContent = value;
      el.append(span);
    });
  }
  // A code from /generate's details ({code, values}; a value may be a code or a list of them) in words, put in
  // `el` (quoting the values named in `quoted`), or returned when there is no `el`.
  function spoken(code, el = null, quoted = []) {
    if (!code) return "";
    const value = (v) => Array.isArray(v) ? v.map(value).join(t("lesson.and"))
      : v && typeof v === "object" ? spoken(v) : String(v);
    const values = {};
    for (const [name, v] of Object.entries(code.values || {})) values[name] = value(v);
    if (el) say(el, code.code, values, quoted);
    return t(code.code, values);
  }
  // The loop line: the greedy text's loop in words, its repeating piece quoted as the model wrote it.
  function showLoop(d) {
    const line = q("#loop_line");
    if (d.loop_code) spoken(d.loop_code, line, ["unit"]);
    else line.textContent = d.loop_line || "";
  }
  const unitWord = (unit) => t(unit === "token" ? "page.unit_token" : "page.unit_character");
  const textBox = (which) => q(`#${which} .cg-text`);
  const mode = () => { const c = q('#playback input:checked'); return c ? c.value : MODES[0]; };

  // Playback counts steps: S.shown steps of both texts are on screen. A character model's step writes
  // one character; a word model's writes a token (d.greedy_steps / d.sampled_steps: the characters of
  // each), so the two texts stay in lockstep by step while their lengths in characters differ.
  const words = () => !!(S.data && S.data.unit === "word");
  const full = (which) => (S.data ? (which === "greedy" ? S.data.greedy : S.data.sampled) : "");
  function stepsOf(d) {
    if (!d) return {greedy: null, sampled: null};
    const table = (counts, textLength) => {
      const ends = [0];
      const at = new Array(textLength);
      counts.forEach((n, k) => { for (let i = ends[k]; i < ends[k] + n; i++) at[i] = k; ends.push(ends[k] + n); });
      return {ends, at};
    };
    if (d.unit !== "word") return {greedy: null, sampled: null};
    return {greedy: table(d.greedy_steps, d.greedy.length), sampled: table(d.sampled_steps, d.sampled.length)};
  }
  // All the steps of the data so far.
  function total(d) {
    if (!d) return 0;
    if (d.unit === "word") return Math.max(d.greedy_steps.length, d.sampled_steps.length);
    return d.greedy.length;
  }
  // Characters of `which` on screen after `steps` steps.
  function charsAt(which, steps) {
    const t = S.steps[which];
    if (!t) return Math.min(steps, full(which).length);
    return t.ends[Math.min(steps, t.ends.length - 1)];
  }
  const chars = (which) => charsAt(which, S.shown);
  const shownChars = () => Math.max(chars("greedy"), chars("sampled"));
  // The step that wrote character i of `which`, and where that step's characters begin and end.
  function stepAt(which, i) {
    const t = S.steps[which];
    if (!t) return {k: i, start: i, end: i + 1};
    const k = t.at[i];
    return {k, start: t.ends[k], end: t.ends[k + 1]};
  }
  // A word model's steps for the distribution: the characters each wrote, "+" when the shown text ends
  // where the run was cut at its length (that step's token may go on beyond it).
  function stepsArg(which) {
    const t = S.steps[which];
    if (!t) return "";
    const n = chars(which);
    const counts = (which === "greedy" ? S.data.greedy_steps : S.data.sampled_steps).slice(0, S.shown);
    return counts.join(",") + (S.data.done && n === full(which).length && n >= S.data.length ? "+" : "");
  }

  function text(which) {
    if (!S.data) return "";
    return full(which).slice(0, chars(which));
  }

  function charSpan(ch, i) {
    const span = document.createElement("span");
    span.className = "c";
    span.dataset.i = i;
    if (ch in MARKERS) {
      const mark = document.createElement("span");
      mark.className = "cg-ws";
      mark.textContent = MARKERS[ch];
      span.appendChild(mark);
      if (ch === " ") span.appendChild(document.createElement("wbr"));  // lines break between words, not in them
      if (ch === "\n") span.appendChild(document.createTextNode("\n"));
      if (ch === "\t") span.appendChild(document.createTextNode("\t"));
    } else {
      span.textContent = ch;
    }
    return span;
  }

  function render() {
    for (const which of ["greedy", "sampled"]) {
      const box = textBox(which);
      if (!box) continue;
      const all = full(which);
      const upto = chars(which);
      if (S.rendered[which] > upto) {
        while (box.childNodes.length > upto) box.removeChild(box.lastChild);
        S.rendered[which] = upto;
      }
      if (S.rendered[which] < upto) {
        const frag = document.createDocumentFragment();
        for (let i = S.rendered[which]; i < upto; i++) frag.appendChild(charSpan(all[i], i));
        box.appendChild(frag);
        S.rendered[which] = upto;
        if (upto < all.length || !S.finished) box.scrollTop = box.scrollHeight;
      }
    }
    const count = q("#step_count");
    if (count) {
      const length = S.data ? S.data.length : 0;
      count.textContent = words()
        ? t("lesson.step_count_words", {shown: S.shown, greedy: chars("greedy"), sampled: chars("sampled"), length})
        : t("lesson.step_count", {shown: S.shown, length});
    }
  }

  function clearPanes() {
    for (const which of ["greedy", "sampled"]) {
      const box = textBox(which);
      if (box) box.replaceChildren();
      S.rendered[which] = 0;
    }
    q("#loop_line").textContent = "";
    q("#seed_line").replaceChildren();
    q("#parting").textContent = "";
    for (const which of ["greedy", "sampled"]) q(`#${which}_copied`).textContent = "";
  }

  // How much of a finished text is copied from the model's training text (/generate's details.originality,
  // for models whose training text is known): the longest verbatim piece, and the share in long copies.
  function showCopied(meters) {
    for (const which of ["greedy", "sampled"]) {
      const meter = meters && meters[which];
      const line = q(`#${which}_copied`);
      if (!meter) { line.textContent = ""; continue; }
      const n = meter.longest_copy_chars;
      const piece = label(meter.longest_copy_text);
      const shown = piece.length > 60 ? piece.slice(0, 59) + "\u2026" : piece;
      const share = Math.round(100 * meter.copied_share);
      if (n) {
        const values = {count: n, piece: shown, share, min: meter.min_run};
        say(line, n === 1 ? "lesson.copied_one" : "lesson.copied", values, ["piece"]);
      } else {
        line.textContent = t("lesson.not_copied");
      }
    }
  }

  function undecorate() {
    document.querySelectorAll("#lesson .cg-text .c").forEach((s) => {
      s.className = "c";
      s.removeAttribute("title");
      delete s.dataset.p;
      delete s.dataset.step;
    });
  }

  function decorate() {
    const d = S.data;
    const nGreedy = chars("greedy");
    const nSampled = chars("sampled");
    const greedySpans = textBox("greedy").children;
    const sampledSpans = textBox("sampled").children;
    const loop = d.loop;
    if (loop) {
      for (let i = loop.start; i < Math.min(nGreedy, greedySpans.length); i++) {
        const copy = Math.floor((i - loop.start) / loop.period);
        const s = greedySpans[i];
        s.classList.add("loop", copy === 0 ? "first" : "rep", copy % 2 ? "odd" : "even");
        if ((i - loop.start) % loop.period === 0) s.classList.add("copy-start");
        s.title = t("lesson.char_loop", {i: i + 1, copy: copy + 1});
      }
    }
    // The shading is per step: every character of a word model's token has its step's probability.
    for (let i = 0; i < Math.min(nSampled, sampledSpans.length); i++) {
      const step = stepAt("sampled", i);
      const p = d.probs[step.k];
      if (p === undefined) continue;
      const s = sampledSpans[i];
      const level = Math.round(Math.pow(Math.min(Math.max(1 - p, 0), 1), 1.5) * 10);
      if (level > 0) s.classList.add(`s${level}`);
      if (p < 0.2) s.classList.add("rare");
      s.dataset.p = p.toFixed(4);
      s.dataset.step = step.k;
      s.title = words()
        ? t("lesson.token_p", {k: step.k + 1, token: label(d.sampled.slice(step.start, step.end)), p: p.toFixed(4)})
        : t("lesson.char_p", {i: i + 1, p: p.toFixed(4)});
    }
    const part = d.parting;
    const partLine = q("#parting");
    const n = Math.min(nGreedy, nSampled);
    if (part !== null && part !== undefined && part < n) {
      greedySpans[part].classList.add("part");
      sampledSpans[part].classList.add("part");
      const g = label(d.greedy[part]);
      const s = label(d.sampled[part]);
      say(partLine, "lesson.parting", {at: part + 1, greedy: g, sampled: s}, ["greedy", "sampled"]);
    } else {
      partLine.textContent = n ? t("lesson.agree", {count: n}) : "";
    }
  }

  function showSeed(seed, temperature) {
    const line = q("#seed_line");
    line.replaceChildren();
    if (!seed) return;
    if (temperature === 0) {
      line.textContent = t("lesson.seed_greedy");
      return;
    }
    line.append(`${t("lesson.seed", {seed})} `);
    const use = document.createElement("button");
    use.type = "button";
    use.className = "cg-tool";
    use.id = "use_seed";
    use.textContent = t("lesson.use_seed");
    use.addEventListener("click", () => setSeed(seed));
    line.append(use);
  }

  // "Use this seed": the seed box lives in the Advanced sampling accordion, which gradio only puts in the page
  // once it is opened. The seed goes to the component through a page event (whether or not its box is drawn),
  // and the accordion opens so the visitor sees it there.
  function setSeed(seed) {
    S.seedToUse = seed;
    const box = q("#seed textarea, #seed input");
    const header = q("#advanced button");
    if ((!box || box.offsetParent === null) && header) header.click();
    const go = q("#seed_go");
    if (go) go.click();
  }

  // The seed_go event's value for the seed box.
  function seedToUse() { return S.seedToUse; }

  function finish() {
    if (S.finished) return;
    S.finished = true;
    cancelAnimationFrame(S.raf);
    S.raf = null;
    q("#stepper").hidden = true;
    decorate();
    // A finished run is read from its start: typing kept each pane scrolled to its newest line.
    if (S.from === 0) for (const which of ["greedy", "sampled"]) { const box = textBox(which); if (box) box.scrollTop = 0; }
    showLoop(S.data);
    showCopied(S.data.originality);
    writeUrl();
    if (!S.sel) select("sampled", 0);
  }

  function tick() {
    S.raf = null;
    if (!S.data || S.stopped) return;
    const target = total(S.data);
    if (S.shown < target) {
      S.shown = Math.min(target, S.shown + S.perFrame);
      render();
    }
    if (S.shown >= target && S.data.done) { finish(); return; }
    S.raf = requestAnimationFrame(tick);
  }

  function advance(steps) {
    if (!S.data || S.finished) return;
    const target = total(S.data);
    S.shown = Math.min(target, S.shown + steps);
    render();
    // The chart follows the newest step of the sampled text (a word model's: its token's first character).
    if (S.shown >= 1 && chars("sampled") >= 1) {
      const last = chars("sampled") - 1;
      select("sampled", words() ? stepAt("sampled", last).start : last, true);
    }
    if (S.shown >= target && S.data.done) finish();
  }

  function receive(d) {
    if (!d || typeof d !== "object" || d.greedy === undefined) return;
    const isStop = d.stopped_at !== null && d.stopped_at !== undefined;
    if (S.redraw && !isStop) {  // the first update of a new request: now the previous run goes
      redraw(S.redraw.from);
      S.redraw = null;
      S.previous = null;
    }
    if ((S.stopped || S.finished) && !isStop) return;  // a late update of a stopped or finished run
    const wasStopped = S.stopped;
    S.data = d;
    S.steps = stepsOf(d);
    S.settings = d.settings;
    showSeed(d.seed, d.settings ? d.settings.temperature : null);
    if (d.unit === "word") {
      // Typing takes about TYPING_FRAMES frames: steps per frame from the steps this run will take
      // (estimated from the characters so far until it is done).
      const steps = total(d);
      const made = Math.max(1, Math.max(d.greedy.length, d.sampled.length));
      const expected = d.done ? steps : Math.ceil((steps * d.length) / made);
      S.perFrame = Math.max(1, Math.ceil((expected - S.from) / TYPING_FRAMES));
    }
    nameUnits(d.unit === "word" ? "token" : "character");
    if (isStop) {
      // The server remade the stopped run at the characters shown: show all of it.
      S.stopped = false;
      S.shown = total(d);
      S.finished = false;
      render();
      undecorate();
      finish();
      return;
    }
    if (wasStopped) return;
    const m = mode();
    if (m === "instant") {
      S.shown = total(d);
      render();
      if (d.done) finish();
    } else if (m === "typing") {
      if (S.raf === null && !S.finished) S.raf = requestAnimationFrame(tick);
    } else {
      q("#stepper").hidden = false;
      render();
      if (d.done && S.shown >= total(d)) finish();
    }
  }

  // The stepper's button and the greedy pane's title name what a step writes: a character, or a word model's token.
  function nameUnits(unit) {
    const next = q("#next_char");
    if (next) next.textContent = t("lesson.next", {unit: unitWord(unit)});
    const sub = q("#greedy-title .cg-sub");
    if (sub) sub.textContent = t("lesson.greedy_sub", {unit: unitWord(unit)});
  }

  // A new request (Generate, or Continue from step `from`): the page's state starts the new run at once, but the
  // panes keep showing the previous run until the new one's first update arrives (redraw), so a request the
  // handler refuses leaves them as they were (refused puts the state back too).
  function startRun(from, length) {
    S.previous = {
      data: S.data, steps: S.steps, settings: S.settings, shown: S.shown, from: S.from, perFrame: S.perFrame,
      finished: S.finished, stopped: S.stopped, sel: S.sel,
    };
    cancelAnimationFrame(S.raf);
    S.raf = null;
    S.stopped = false;
    S.finished = false;
    S.from = from;
    S.shown = from;
    S.perFrame = Math.max(1, Math.ceil((length - from) / TYPING_FRAMES));
    if (from === 0) {
      S.data = null;
      S.steps = stepsOf(null);
      S.sel = null;
    }
    S.redraw = {from};
  }

  // The panes make way for the new run: its first update has arrived.
  function redraw(from) {
    if (from === 0) {
      clearPanes();
    } else {
      undecorate();
      q("#loop_line").textContent = "";
      q("#parting").textContent = "";
    }
    q("#stepper").hidden = mode() !== "step by step";
    const lesson = q("#lesson");
    if (lesson) {
      const top = lesson.getBoundingClientRect().top;
      if (top > window.innerHeight * 0.8) lesson.scrollIntoView({behavior: "smooth", block: "start"});
    }
  }

  // The handler refused the request (its message is in a toast): the previous run, still on screen, is the
  // page's state again, and its playback goes on if it was still playing.
  function refused() {
    if (!S.redraw || !S.previous) return;
    Object.assign(S, S.previous);
    S.redraw = null;
    S.previous = null;
    if (S.data && !S.finished && !S.stopped && mode() === "typing") S.raf = requestAnimationFrame(tick);
  }

  // What the visitor typed in a slider's number box, not the slider's clamped value: out-of-range input
  // follows the one rule (the handler refuses it, saying what is allowed), on the page as in the API.
  const NUMBER_BOXES = ["temperature", "length", "top_k", "top_p"];
  const typed = {};
  function boxOf(target) {
    if (!target || target.tagName !== "INPUT") return null;
    const id = NUMBER_BOXES.find((name) => target.closest && target.closest(`#${name}`));
    return id ? {id, range: target.type === "range"} : null;
  }
  document.addEventListener("input", (e) => {
    const box = boxOf(e.target);
    if (!box) return;
    if (box.range) delete typed[box.id];
    else typed[box.id] = e.target.value;
    if (box.id === "temperature") requestDistribution(S.sel, 300);
  }, true);
  document.addEventListener("focusout", (e) => {
    const box = boxOf(e.target);
    if (!box || box.range || typed[box.id] === undefined) return;
    const value = typed[box.id];
    // No silent clamping: gradio clamps the box when it loses focus, in an update whose timing varies
    // with the machine's load, so put the typed value back after it at a few moments.
    for (const delay of [0, 50, 250]) {
      setTimeout(() => { if (typed[box.id] === value && e.target.value !== value) e.target.value = value; }, delay);
    }
  }, true);
  function shownValue(id, fallback) {
    // What the visitor typed wins over what the box shows: the handler applies the one rule to it.
    // (Only while the box shows it or its clamp to a bound: a reset or a programmatic change wins.)
    const input = q(`#${id} input[type=number]`);
    const atBound = (el) => (el.min !== "" && Number(el.value) === Number(el.min))
      || (el.max !== "" && Number(el.value) === Number(el.max));
    const useTyped = typed[id] !== undefined && (!input || input.value === typed[id] || atBound(input));
    const raw = useTyped ? String(typed[id]) : input ? input.value : "";
    // An emptied box is sent as blank, which the handler refuses (temperature, length) or reads as "off"
    // (top-k, top-p), never as the slider's clamped value; only a box that is not on the page uses its value.
    if (raw.trim() === "") return useTyped || input ? "" : fallback;
    const n = Number(raw);
    return isNaN(n) ? raw : n;
  }
  function controls(args) {
    return [args[0], shownValue("temperature", args[1]), shownValue("length", args[2]),
      shownValue("top_k", args[3]), shownValue("top_p", args[4]), args[5], args[6]];
  }

  // A new request: the previous request's error toasts go (only the newest message is shown), then the run starts.
  function request(from, length) {
    document.querySelectorAll(".toast-body .toast-close").forEach((button) => button.click());
    startRun(from, length);
  }

  // Generate: a new run from the controls as they are (the handler checks every value).
  function generateArgs(...args) {
    const values = controls(args);
    request(0, Number(values[2]) || 0);
    return values;
  }

  // Continue: the same settings and seed, longer; the texts so far are its prefix, so only the rest animates.
  function continueArgs(...args) {
    if (!S.settings || !S.data) return generateArgs(...args);
    const more = Number(shownValue("length", args[2])) || 0;
    const st = S.settings;
    const length = Math.min(MAX_LENGTH, shownChars() + more);
    request(S.shown, length);
    return [st.prompt, st.temperature, length, st.top_k, st.top_p, S.data.seed, st.model];
  }

  // Stop: keep what is shown; the server remakes exactly that prefix (same seed) with its loop line.
  function stopArgs(...args) {
    S.redraw = null;  // stopped before its first update: the stop's own update redraws the panes
    S.previous = null;
    cancelAnimationFrame(S.raf);
    S.raf = null;
    if (!S.settings || !S.data) return [args[0], args[1], 0, args[3], args[4], args[5], args[6]];
    S.stopped = true;
    const st = S.settings;
    // In characters: a word model's two texts are remade to the longer one shown, so nothing shown goes.
    return [st.prompt, st.temperature, shownChars(), st.top_k, st.top_p, S.data.seed, st.model];
  }

  // --- the distribution at a step ---------------------------------------------------------------
  function select(which, i, immediate) {
    document.querySelectorAll("#lesson .sel").forEach((s) => s.classList.remove("sel"));
    const spans = textBox(which) ? textBox(which).children : [];
    if (i < 0 || i >= spans.length) return;
    // A word model's step is a token: all of its characters are selected.
    const step = stepAt(which, i);
    for (let j = step.start; j < Math.min(step.end, spans.length); j++) spans[j].classList.add("sel");
    S.sel = {which, i};
    requestDistribution({which, i}, immediate ? 0 : 120);
  }

  function requestDistribution(target, delay) {
    S.pendingDist = target;
    clearTimeout(S.distTimer);
    S.distTimer = setTimeout(() => { const b = q("#dist_go"); if (b) b.click(); }, delay);
  }

  // The chart's request: a clicked step of a text (that run's prompt and settings, the temperature as
  // it is now), or the next character after the prompt as typed.
  function distArgs(prompt, temperature, model, textArg, position, topK, topP, steps) {
    const t = S.pendingDist;
    if (t && t.which && S.settings && S.data) {
      const st = S.settings;
      return [st.prompt, shownValue("temperature", temperature), st.model, text(t.which), t.i, st.top_k, st.top_p,
        stepsArg(t.which)];
    }
    return [prompt, shownValue("temperature", temperature), model, "", -1, shownValue("top_k", topK),
      shownValue("top_p", topP), ""];
  }

  function onPromptChange() {
    S.sel = null;
    document.querySelectorAll("#lesson .sel").forEach((s) => s.classList.remove("sel"));
    requestDistribution(null, 400);
  }

  function onTemperatureChange() { requestDistribution(S.sel, 150); }

  // Scroll `el` just enough that all of it is on screen (nothing when it already is).
  function reveal(el) {
    if (!el) return;
    const r = el.getBoundingClientRect();
    const by = Math.ceil(r.top < 0 ? r.top : Math.min(r.top, Math.max(0, r.bottom - window.innerHeight)));
    if (by) window.scrollBy({top: by, behavior: "instant"});
  }

  // A character or token as the chart and the notes show it: whitespace as its markers.
  function label(ch) {
    if (ch === " ") return `\u00b7 ${t("chart.space")}`;
    if (ch === "\n") return `\u21b5 ${t("chart.newline")}`;
    if (ch === "\t") return `\u2192 ${t("chart.tab")}`;
    return ch.replace(/[ \n\t]/g, (c) => MARKERS[c]);
  }

  // The chart's caption at a step of each text: what it drew, or where a word model's text was cut.
  const CAPTIONS = {
    greedy: {drawn: "chart.drawn_greedy", cut: "chart.cut_greedy"},
    sampled: {drawn: "chart.drawn_sampled", cut: "chart.cut_sampled"},
  };

  function drawChart(d) {
    const bars = q("#chart-bars");
    const caption = q("#chart-caption");
    if (!bars || !d) return;
    S.chart = d;  // drawn again in another language
    bars.replaceChildren();
    if (S.revealChart) {
      // The chart a visitor asked for by picking a character: on a laptop, brought into view beside the texts
      // (after this drawing; on a phone it is far below them, and jumping there would hide the texts).
      S.revealChart = false;
      if (window.matchMedia(WIDE_LAYOUT).matches) requestAnimationFrame(() => reveal(q("#chart")));
    }
    if (d.error) {
      caption.innerHTML = "";
      const err = document.createElement("span");
      err.id = "chart-error";
      err.textContent = d.error;
      caption.append(err);
      return;
    }
    const shownT = d.temperature === 0 ? t("chart.greedy_t") : `T = ${d.temperature}`;
    const ctx = d.context.replace(/[ \n\t]/g, (c) => MARKERS[c]);
    const unit = d.unit === "word" ? "token" : "character";
    const key = q("#chart-drawn");
    if (key) key.textContent = t("chart.legend_drawn", {unit: unitWord(unit)});
    if (d.drawn === null) {
      say(caption, "chart.next", {unit: unitWord(unit), context: ctx, t: shownT}, ["context"]);
    } else {
      const which = S.sel ? S.sel.which : "sampled";
      const drawnRow = d.rows.find((r) => r[3]);
      const pt = drawnRow ? drawnRow[1] : 0;
      const what = unit === "token"
        ? t("chart.step_token", {step: d.step, start: d.start + 1}) : t("chart.step_char", {step: d.step});
      const values = {what, context: ctx, drawn: label(d.drawn), p: pt.toFixed(4), t: shownT};
      say(caption, CAPTIONS[which][d.cut ? "cut" : "drawn"], values, ["context", "drawn"]);
    }
    let rows = d.rows.slice(0, CHART_ROWS);
    const drawn = d.rows.find((r) => r[3]);
    if (drawn && !rows.includes(drawn)) rows = rows.concat([drawn]);
    const restT = Math.max(0, 1 - rows.reduce((a, r) => a + r[1], 0));
    const restOne = Math.max(0, 1 - rows.reduce((a, r) => a + r[2], 0));
    const others = {};  // the row for the rest (no character of the model's)
    for (const r of rows.concat([[others, restT, restOne, false]])) {
      const lbl = document.createElement("span");
      lbl.className = "lbl" + (r[3] ? " drawn" : "") + (r[0] === others ? "" : " cg-quoted");
      lbl.textContent = (r[3] ? "\u25b6 " : "") + (r[0] === others ? t("chart.others") : label(r[0]));
      const cell = document.createElement("div");
      cell.className = "bars" + (r[3] ? " drawn" : "");
      cell.dataset.char = r[0] === others ? "all others" : r[0];
      cell.dataset.pt = r[1].toFixed(4);
      cell.dataset.p1 = r[2].toFixed(4);
      for (const [cls, p] of [["t", r[1]], ["one", r[2]]]) {
        const bar = document.createElement("div");
        bar.className = `bar ${cls}`;
        bar.style.width = `${(p * 100).toFixed(2)}%`;
        cell.append(bar);
      }
      const num = document.createElement("span");
      num.className = "num";
      num.textContent = `${r[1].toFixed(3)} \u00b7 ${r[2].toFixed(3)}`;
      num.title = t("chart.number_title", {pt: r[1].toFixed(4), t: shownT, p1: r[2].toFixed(4)});
      bars.append(lbl, cell, num);
    }
  }

  // --- copy, download, keys, the link -----------------------------------------------------------
  function copy(which) {
    const t = text(which);
    if (navigator.clipboard) navigator.clipboard.writeText(t).catch(() => {});
    window.chargenCopied = t;
  }

  function download(which) {
    const blob = new Blob([text(which)], {type: "text/plain;charset=utf-8"});
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = `chargen-${which}.txt`;
    document.body.append(a);
    a.click();
    a.remove();
  }

  function writeUrl() {
    if (!S.settings || !S.data) return;
    const st = S.settings;
    const p = new URLSearchParams({
      model: st.model, prompt: st.prompt, temperature: st.temperature, length: shownChars(), seed: S.data.seed,
    });
    if (st.top_k) p.set("top_k", st.top_k);
    if (st.top_p !== 1) p.set("top_p", st.top_p);
    p.set("playback", mode());
    p.set("lang", I18N.language);  // a link from a Marathi page opens in Marathi
    history.replaceState(null, "", `${location.pathname}?${p.toString()}`);
  }

  // On load: the controls from the link (the handler checks them as it checks anything typed).
  function fromUrl(...current) {
    const p = new URLSearchParams(location.search);
    const names = ["prompt", "temperature", "length", "top_k", "top_p", "seed", "model", "playback"];
    S.urlParams = p.has("prompt") || p.has("seed") ? p : null;
    return names.map((name, i) => {
      if (!p.has(name)) return current[i];
      const v = p.get(name);
      return ["temperature", "length", "top_k", "top_p"].includes(name) && v.trim() !== "" && !isNaN(Number(v))
        ? Number(v) : v;
    });
  }

  function autoGenerate() {
    if (S.urlParams) modelsReady.then(() => setTimeout(() => q("#generate").click(), 300));
  }

  // python app.py serves the page before its models are loaded (chargen/app/demo.py, main): until the
  // server's GET chargen/ready (a plain route, not a queued event) says they are, the Generate button says
  // so and can't be pressed. Only the browser changes the button: the page and its config, cached by the
  // server, stay as built. A request sent meanwhile (the API, Ctrl+Enter) waits on the server.
  const READY_POLL_MS = 250;
  let modelsLoaded;
  const modelsReady = new Promise((resolve) => { modelsLoaded = resolve; });
  function loadingWords() {
    const i18n = window.chargenI18n;
    const words = i18n && typeof i18n.t === "function" ? i18n.t("page.loading_model") : "";
    // Before the catalogues arrive t() gives the key back: say it in English until then.
    return words && words !== "page.loading_model" ? words : "loading the model\u2026";
  }
  function buttonLabel(button) {  // the text node gradio writes the label to: changed in place, never replaced
    const walker = document.createTreeWalker(button, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) if (n.nodeValue.trim()) return n;
    return null;
  }
  function showLoading(loading) {
    const button = q("#generate");
    const label = button && buttonLabel(button);
    if (!label) return;
    if (loading) {
      const words = loadingWords();
      if (button.dataset.cgLabel === undefined) button.dataset.cgLabel = label.nodeValue;  // the label, kept once
      if (label.nodeValue !== words) label.nodeValue = words;
      button.disabled = true;
      button.classList.add("cg-loading");
    } else if (button.dataset.cgLabel !== undefined) {
      // The label the button had (the page's translator may have said the loading words in another language since).
      label.nodeValue = button.dataset.cgLabel;
      delete button.dataset.cgLabel;
      button.disabled = false;
      button.classList.remove("cg-loading");
    }
  }
  async function watchModels() {
    for (let failures = 0; failures < 40;) {
      let ready;
      try {
        const answer = await fetch("chargen/ready", {cache: "no-store"});
        ready = answer.ok ? (await answer.json()).ready === true : true;  // no such route: a page served otherwise
      } catch (e) {
        failures += 1;  // the server is not answering (yet): ask again, a while
      }
      if (ready) break;
      if (ready === false) showLoading(true);
      await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
    }
    showLoading(false);
    modelsLoaded();
  }
  watchModels();

  function onKey(e) {
    if ((e.ctrlKey || e.metaKey) && e.key === "Enter") {
      e.preventDefault();
      q("#generate").click();
      return;
    }
    const box = e.target.closest ? e.target.closest(".cg-text") : null;
    if (box) {
      const which = box.closest(".cg-pane").id;
      const n = box.children.length;
      if (!n) return;
      let i = S.sel && S.sel.which === which ? S.sel.i : -1;
      // By step: a word model's arrows move a token at a time.
      const step = i >= 0 ? stepAt(which, i) : {start: -1, end: 0};
      if (e.key === "ArrowRight") i = Math.min(n - 1, step.end);
      else if (e.key === "ArrowLeft") i = step.start <= 0 ? 0 : stepAt(which, step.start - 1).start;
      else if (e.key === "Home") i = 0;
      else if (e.key === "End") i = n - 1;
      else return;
      e.preventDefault();
      S.revealChart = true;
      select(which, i);
      box.children[i].scrollIntoView({block: "nearest"});
    } else if (e.key === "ArrowRight" && e.target.id === "next_char") {
      e.preventDefault();
      advance(1);
    }
  }

  function onClick(e) {
    const span = e.target.closest ? e.target.closest("#lesson .cg-text .c") : null;
    if (span) {
      S.revealChart = true;
      select(span.closest(".cg-pane").id, Number(span.dataset.i), true);
      return;
    }
    const b = e.target.closest ? e.target.closest("button") : null;
    if (!b) return;
    if (b.dataset.copy) copy(b.dataset.copy);
    else if (b.dataset.download) download(b.dataset.download);
    else if (b.id === "next_char") advance(1);
    else if (b.id === "play_rest") {
      q("#stepper").hidden = true;
      if (S.raf === null) S.raf = requestAnimationFrame(tick);
    }
  }

  // Another language (or the catalogues' arrival): every sentence this script wrote is said again in it; the
  // texts, the settings and the selection stay as they are.
  function relabel() {
    document.documentElement.style.setProperty("--cg-try", JSON.stringify(t("generate.try")));
    nameUnits(words() ? "token" : "character");
    if (!S.chart && q("#chart-caption")) q("#chart-caption").textContent = t("chart.caption_empty");
    if (!S.data) return;
    render();
    showSeed(S.data.seed, S.data.settings ? S.data.settings.temperature : null);
    if (S.finished) {
      decorate();
      showLoop(S.data);
      showCopied(S.data.originality);
    }
    if (S.chart && !S.chart.error) drawChart(S.chart);
  }
  I18N.onChange(relabel);
  if (I18N.loaded) relabel();

  document.addEventListener("keydown", onKey, true);  // before a text box takes Ctrl+Enter as a line break
  document.addEventListener("click", onClick);
  const api = {
    receive, drawChart, generateArgs, continueArgs, stopArgs, distArgs, fromUrl, autoGenerate, onPromptChange,
    onTemperatureChange, seedToUse, refused, text, select, copy, state: S,
  };
  // Calls made before this file arrived waited in boot.js's stand-ins: answer them now.
  if (window.chargen && window.chargen.loaded) window.chargen.loaded(api);
  return api;
})();

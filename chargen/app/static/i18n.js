// The page in the visitor's language (chargen/app/i18n.py). The server renders every word in English from
// static/i18n/en.json; this script fetches that catalogue and the chosen language's (static files, by hashed
// URL: window.chargenConfig.i18n) and translates the page in the browser: every text node, and the placeholder,
// aria-label, title and alt attributes, whose English is a catalogue entry (after trimming) or matches an entry
// with {name} placeholders (each becomes a capture, put back as it is). It remembers each node's English, so
// the switch can go back, and a MutationObserver translates what gradio draws or redraws later. Generated text
// (text boxes' values, the panes' .cg-text, code, JSON views) and anything under translate="no" is never
// touched. Script-built sentences call window.chargenI18n.t(key, values) and redraw on onChange.
window.chargenI18n = (() => {
  const CONFIG = window.chargenConfig.i18n;
  const LANGUAGES = CONFIG.languages;  // code -> the language's own name, as the switch shows it
  const DEFAULT = CONFIG.default;
  const ATTRIBUTES = ["placeholder", "aria-label", "title", "alt"];
  // Never translated: what a visitor typed or a model wrote, code, and gradio's JSON views.
  const SKIP = "textarea, input, select, script, style, code, pre, .cg-text, .json-holder, .json-node, "
    + "#details, #dist_data, [translate=no], [contenteditable=true], "
    + "[data-testid='highlighted-text:textfield']";  // a HighlightedText's text: a visitor's or a model's

  const catalogues = {};  // code -> {key: words}, once fetched
  const loading = {};  // code -> the promise of its catalogue
  // English words -> key ({exact}), and [{key, regex, names}] for entries with placeholders, the most specific
  // first ({templates}): plain entries, and those with **bold** (matched against a paragraph).
  let plain = {exact: new Map(), templates: []};
  let rich = {exact: new Map(), templates: []};
  const callbacks = [];
  const originals = new WeakMap();  // text node -> {english, shown}; element -> {attribute: {english, shown}}
  const paragraphs = new WeakMap();  // rich paragraph -> {rich: its English nodes, text, shown}
  let language = chooseLanguage();
  let observer = null;
  let loaded = false;  // the catalogues have arrived and the page is in the chosen language

  // ?lang= in the link, else the first of the browser's languages the page has (mr-IN -> mr), else English.
  function chooseLanguage() {
    const asked = new URLSearchParams(location.search).get("lang");
    if (asked && asked in LANGUAGES) return asked;
    for (const tag of navigator.languages || [navigator.language || ""]) {
      const code = String(tag).toLowerCase().split("-")[0];
      if (code in LANGUAGES) return code;
    }
    return DEFAULT;
  }

  function load(code) {
    if (!loading[code]) {
      loading[code] = fetch(CONFIG.catalogues[code])
        .then((response) => response.json())
        .then((words) => { catalogues[code] = words; if (code === DEFAULT) index(words); return words; });
    }
    return loading[code];
  }

  // Placeholders that always hold a number capture only a number: "{low} to {high}" must not read gradio's
  // "Click to Upload" as low = "Click", high = "Upload".
  const NUMBERS = new Set(["low", "high", "count", "rank", "seconds", "minutes"]);
  const NUMBER = "([-+]?\\d[\\d.,]*)";
  const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

  // The English catalogue as the matcher reads it: exact words, and patterns for the entries with placeholders.
  // Entries with **bold** in them are matched against a whole paragraph's text (gradio's Markdown draws them
  // as several text nodes around <strong>), the others against one text node or attribute.
  function index(words) {
    plain = {exact: new Map(), templates: []};
    rich = {exact: new Map(), templates: []};
    for (const [key, value] of Object.entries(words)) {
      const into = value.includes("**") ? rich : plain;
      const english = flat(value.replace(/\*\*/g, ""));
      const names = [];
      const parts = english.split(/\{(\w+)\}/);
      if (parts.length === 1) {
        if (!into.exact.has(english)) into.exact.set(english, key);
        continue;
      }
      let source = "";
      parts.forEach((part, i) => {
        if (i % 2) {
          names.push(part);
          source += NUMBERS.has(part) ? NUMBER : "([\\s\\S]+?)";
        } else source += escape(part);
      });
      const fixed = parts.filter((_, i) => i % 2 === 0).join("").length;
      into.templates.push({key, names, fixed, start: parts[0].length, regex: new RegExp(`^${source}$`)});
    }

  }

  const flat = (s) => s.replace(/\s+/g, " ").trim();

  // `key`'s words in the chosen language (English where the catalogue lacks it), {name} filled from `values`.
  function t(key, values = {}) {
    const words = (catalogues[language] || {})[key] ?? (catalogues[DEFAULT] || {})[key] ?? key;
    return words.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
  }

  // The key and values of `trimmed` (English) in `table`, or null when it is not catalogue words. A value that is
  // itself catalogue words ("greedy", "a 2-layer LSTM (512 units)"), or a list of them ("...; ..."), is said in the
  // language too. Where several entries match, the one that accounts for the most of the words as catalogue words
  // (its own and its values') wins, then the one with the longer fixed start: "seed must be ..." is a refusal
  // (error.must_be), not "seed {seed}" (chargen/app/i18n.py's match() chooses the same way).
  function match(trimmed, table, depth = 0) {
    const key = table.exact.get(trimmed);
    if (key !== undefined) return {key, values: {}, score: trimmed.length};
    let best = null;
    for (const template of table.templates) {
      const found = template.regex.exec(trimmed);
      if (!found) continue;
      const values = {};
      let score = template.fixed;
      template.names.forEach((name, i) => {
        const value = found[i + 1];
        const parts = depth < 2 ? value.split("; ") : [value];
        values[name] = parts.map((part) => {
          const own = depth < 2 ? match(part.trim(), plain, depth + 1) : null;
          if (!own) return part;
          score += own.score;
          return t(own.key, own.values);
        }).join("; ");
      });
      if (!best || score > best.score || (score === best.score && template.start > best.start)) {
        best = {key: template.key, values, score, start: template.start};
      }
    }
    return best;
  }

  // `source` (English) in the chosen language, or null when it is not catalogue words.
  function translateWords(source) {
    const trimmed = source.trim();
    if (!trimmed) return null;
    const found = match(trimmed, plain);
    if (!found) return null;
    const lead = source.slice(0, source.indexOf(trimmed));
    const tail = source.slice(lead.length + trimmed.length);
    return lead + t(found.key, found.values) + tail;
  }

  // A paragraph gradio's Markdown drew from an entry with **bold**: only text and <strong>/<em> in it.
  const INLINE = new Set(["STRONG", "EM", "B", "I"]);
  const BLOCKS = new Set(["P", "LI", "H1", "H2", "H3", "SPAN", "DIV", "LABEL"]);
  function richCandidate(element) {
    if (!BLOCKS.has(element.tagName) || !rich.exact.size && !rich.templates.length) return false;
    let inline = false;
    for (const child of element.childNodes) {
      if (child.nodeType === Node.TEXT_NODE) continue;
      if (child.nodeType !== Node.ELEMENT_NODE || !INLINE.has(child.tagName) || child.children.length) return false;
      inline = true;
    }
    return inline;
  }

  // Translate a rich paragraph (true) or leave it to the text nodes' turn (false).
  function translateRich(element) {
    let seen = paragraphs.get(element);
    if (!seen || element.textContent !== seen.shown) {
      seen = {rich: [...element.childNodes].map((node) => node.cloneNode(true)), shown: element.textContent};
      seen.text = flat(element.textContent);
    }
    const found = match(seen.text, rich);
    if (!found) return false;
    paragraphs.set(element, seen);
    // Already in this language: drawing it again would be a mutation, seen again, drawn again, for ever.
    if (seen.language === language && element.textContent === seen.shown) return true;
    if (language === DEFAULT) {
      const translated = seen.language !== undefined && seen.language !== DEFAULT;
      if (translated || element.textContent !== seen.shown || element.childNodes.length !== seen.rich.length) {
        element.replaceChildren(...seen.rich.map((node) => node.cloneNode(true)));
      }
    } else {
      const nodes = t(found.key, found.values).split("**").map((part, i) => {
        if (i % 2 === 0) return document.createTextNode(part);
        const strong = document.createElement("strong");
        strong.textContent = part;
        return strong;
      });
      element.replaceChildren(...nodes);
    }
    seen.shown = element.textContent;
    seen.language = language;
    return true;
  }

  const skipped = (element) => !element || !!element.closest(SKIP);
  // A text box or input outside any other skipped part: its placeholder and label attributes are the page's words.
  const ownBox = (element) => element.matches("textarea, input") && !skipped(element.parentElement);

  function translateText(node) {
    if (!node || node.nodeType !== Node.TEXT_NODE || skipped(node.parentElement)) return;
    let seen = originals.get(node);
    if (!seen || node.data !== seen.shown) {  // new, or changed by someone else since: its words are the source
      seen = {english: node.data, shown: node.data};
      originals.set(node, seen);
    }
    const shown = language === DEFAULT ? seen.english : translateWords(seen.english) ?? seen.english;
    if (node.data !== shown) node.data = shown;
    seen.shown = shown;
  }

  function translateAttributes(element) {
    let seen = originals.get(element);
    for (const name of ATTRIBUTES) {
      if (!element.hasAttribute(name)) continue;
      const value = element.getAttribute(name);
      if (!seen) { seen = {}; originals.set(element, seen); }
      if (!seen[name] || value !== seen[name].shown) seen[name] = {english: value, shown: value};
      const shown = language === DEFAULT ? seen[name].english : translateWords(seen[name].english) ?? seen[name].english;
      if (value !== shown) element.setAttribute(name, shown);
      seen[name].shown = shown;
    }
  }

  // Our own HTML may name its keys: data-i18n="key" (its text), data-i18n-attr="aria-label:key;title:key".
  function translateMarked(element) {
    const words = element.dataset.i18n ? t(element.dataset.i18n) : null;
    if (words !== null && element.textContent !== words) element.textContent = words;
    if (element.dataset.i18nAttr) {
      for (const pair of element.dataset.i18nAttr.split(";")) {
        const [name, key] = pair.split(":").map((s) => s.trim());
        if (name && key && element.getAttribute(name) !== t(key)) element.setAttribute(name, t(key));
      }
    }
  }

  // Translate everything under `root` (a node) into the chosen language.
  function translate(root = document.body) {
    if (!root || !catalogues[DEFAULT]) return;
    if (root.nodeType === Node.TEXT_NODE) {
      const parent = root.parentElement;
      if (parent && richCandidate(parent) && !skipped(parent) && translateRich(parent)) return;
      translateText(root);
      return;
    }
    if (root.nodeType !== Node.ELEMENT_NODE && root.nodeType !== Node.DOCUMENT_NODE) return;
    if (root.nodeType === Node.ELEMENT_NODE && skipped(root)) {
      if (ownBox(root)) translateAttributes(root);
      if (root.dataset && root.dataset.i18nAttr) translateMarked(root);  // our attributes on it, never its text
      return;
    }
    if (root.nodeType === Node.ELEMENT_NODE && richCandidate(root)) {
      if (!translateRich(root)) for (const child of root.childNodes) translateText(child.firstChild || child);
      return;
    }
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT, {
      acceptNode: (node) => {
        if (node.nodeType !== Node.ELEMENT_NODE) return NodeFilter.FILTER_ACCEPT;
        if (node.matches(SKIP)) {
          if (ownBox(node)) translateAttributes(node);  // its value is the visitor's; its placeholder is ours
          // A generated text's pane names its attributes' keys (data-empty, aria-label): those are ours.
          if (node.dataset && node.dataset.i18nAttr && !node.dataset.i18n) marked.push(node);
          return NodeFilter.FILTER_REJECT;
        }
        if (richCandidate(node)) { inParagraphs.push(node); return NodeFilter.FILTER_REJECT; }
        return NodeFilter.FILTER_ACCEPT;
      },
    });
    const marked = [];
    const inParagraphs = [];
    for (let node = walker.currentNode; node; node = walker.nextNode()) {
      if (node.nodeType === Node.TEXT_NODE) translateText(node);
      else if (node.nodeType === Node.ELEMENT_NODE) {
        translateAttributes(node);
        if (node.dataset && (node.dataset.i18n || node.dataset.i18nAttr)) marked.push(node);
      }
    }
    marked.forEach(translateMarked);  // after the walk: replacing their text would end it early
    for (const paragraph of inParagraphs) {
      if (translateRich(paragraph)) continue;
      for (const child of paragraph.childNodes) translateText(child.firstChild || child);
    }
  }

  function onMutations(records) {
    for (const record of records) {
      if (record.type === "childList" && skipped(record.target)) continue;  // a pane's characters, say
      if (record.type === "characterData") translate(record.target);
      else if (record.type === "attributes") {
        if (!skipped(record.target) || ownBox(record.target)) translateAttributes(record.target);
      } else for (const node of record.addedNodes) translate(node);
    }
  }

  function observe() {
    if (observer) return;
    observer = new MutationObserver(onMutations);
    observer.observe(document.body, {
      childList: true, subtree: true, characterData: true, attributes: true, attributeFilter: ATTRIBUTES,
    });
  }

  // The tab's title (in the head, which gradio writes once it has the page's config).
  let titleSeen = null;
  function translateTitle() {
    if (!catalogues[DEFAULT] || !document.title) return;
    if (!titleSeen || document.title !== titleSeen.shown) titleSeen = {english: document.title};
    const shown = language === DEFAULT ? titleSeen.english : translateWords(titleSeen.english) ?? titleSeen.english;
    if (document.title !== shown) document.title = shown;
    titleSeen.shown = shown;
  }

  // The switch (English / मराठी) in the header: the chosen language marked, the other one a click away.
  function markSwitch() {
    document.querySelectorAll("[data-lang]").forEach((button) => {
      const chosen = button.dataset.lang === language;
      button.setAttribute("aria-pressed", String(chosen));
      button.classList.toggle("cg-lang-chosen", chosen);
    });
  }

  // Show the page in `code` at once: the link keeps it (?lang=), <html lang> follows, and every text the
  // page shows is said again in it; what the visitor typed, the settings and the texts stay as they are.
  async function setLanguage(code) {
    if (!(code in LANGUAGES)) return;
    await Promise.all([load(DEFAULT), load(code)]);
    language = code;
    document.documentElement.lang = code;
    const params = new URLSearchParams(location.search);
    params.set("lang", code);
    history.replaceState(history.state, "", `${location.pathname}?${params.toString()}${location.hash}`);
    if (observer) observer.takeRecords().forEach(() => {});
    translate(document.body);
    translateTitle();
    markSwitch();
    for (const callback of callbacks) {
      try { callback(code); } catch (error) { console.error(error); }
    }
  }

  // `callback(code)` after each change of language (and once the catalogues arrive).
  function onChange(callback) { callbacks.push(callback); }

  document.addEventListener("click", (event) => {
    const button = event.target.closest ? event.target.closest("[data-lang]") : null;
    if (button && button.dataset.lang !== language) setLanguage(button.dataset.lang);
  });

  const ready = Promise.all([load(DEFAULT), load(language)]).then(() => {
    document.documentElement.lang = language;
    translate(document.body);
    translateTitle();
    markSwitch();
    observe();
    new MutationObserver(translateTitle).observe(document.head, {childList: true, subtree: true, characterData: true});
    loaded = true;
    for (const callback of callbacks) {
      try { callback(language); } catch (error) { console.error(error); }
    }
  });
  // The switch is drawn by gradio after this runs: mark it when it appears.
  new MutationObserver(() => { if (document.querySelector("[data-lang]:not([aria-pressed])")) markSwitch(); })
    .observe(document.body, {childList: true, subtree: true});

  return {
    get language() { return language; }, get loaded() { return loaded; }, languages: LANGUAGES, t, setLanguage, onChange, translate, ready,
  };
})();

// Inlined in the page's head (chargen/app/page.py), so it runs before gradio's first events do. chargen.js is
// fetched and may arrive after them (the page's load event calls fromUrl at once): until it does, window.chargen
// holds stand-ins for the calls the events make, which wait for it and then make the call (gradio awaits what an
// event's js returns). chargen.js replaces this object with its own and resolves the wait.
(() => {
  const CALLS = [
    "receive", "drawChart", "generateArgs", "continueArgs", "stopArgs", "distArgs", "fromUrl", "autoGenerate",
    "onPromptChange", "onTemperatureChange", "seedToUse", "refused",
  ];
  let loaded;
  const ready = new Promise((resolve) => { loaded = resolve; });
  const standIn = {loaded};
  for (const name of CALLS) standIn[name] = (...args) => ready.then((api) => api[name](...args));
  window.chargen = standIn;
})();

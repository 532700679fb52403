"""chargen's web app: greedy and sampled continuations of a prompt, side by side, as they are generated.

``python app.py`` serves it on http://127.0.0.1:7860 (``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT``
change that). The models come from ``CHARGEN_MODELS`` (comma-separated folders or Hub repo ids;
the first is the default), else the bundled Shakespeare and Python models. This file only builds
widgets and wires them to chargen; the work happens in ``chargen.generate`` and ``chargen.views``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import gradio as gr

from chargen import views
from chargen.errors import ChargenError
from chargen.generate import compare, stream_compare
from chargen.hub import load_models

QUEUE_SIZE = 32
"""Requests waiting beyond this are refused at once with "Queue is full" instead of timing out."""
CONCURRENCY = 2
"""Generations running at once: one per core of a 2-vCPU Space, each on one torch thread."""
TORCH_THREADS = 1
"""Per process. Two threads per request would fight the other request for the same two cores."""
STREAM_INTERVAL_S = 0.1
"""Seconds between streamed updates of one generation. Each update costs gradio ~10 ms of CPU: at
0.04 s the updates took about half the server's CPU in a 20-user burst and p95 latency was 11-13 s
(benchmarks/load_test.py); at 0.1 s the text still visibly streams and p95 halves."""
STREAM_CHUNK = 16
"""Characters generated per step of the stream (~10 ms of work). One at a time paid the stream's
per-chunk bookkeeping 300 times a request: ~25% more server CPU in a 20-user burst."""

views.set_torch_threads(TORCH_THREADS)
MODELS, STARTUP_NOTICES = load_models(os.environ.get("CHARGEN_MODELS") or views.DEFAULT_MODELS)
MODEL_NAMES = list(MODELS)

Outputs = tuple[Any, ...]


def _checked(prompt: Any, temperature: Any, length: Any, *advanced: Any) -> views.Request:
    try:
        return views.parse_request(prompt, temperature, length, *advanced, model_names=MODEL_NAMES)
    except ChargenError as exc:
        raise gr.Error(str(exc), print_exception=False) from None


def generate(
    prompt: str,
    temperature: float = views.DEFAULT_TEMPERATURE,
    length: int = views.DEFAULT_LENGTH,
    top_k: int | None = 0,
    top_p: float | None = 1.0,
    seed: int | str | None = None,
    model_name: str | None = None,
) -> Iterator[Outputs]:
    """Stream the greedy and the sampled continuation of ``prompt``; the last update adds the seed
    used, the loop line, the loop highlight, the probability shading and any notices."""
    request = _checked(prompt, temperature, length, top_k, top_p, seed, model_name)
    try:
        stream = stream_compare(
            MODELS[request.model_name],
            request.prompt,
            request.length,
            temperature=request.temperature,
            top_k=request.top_k,
            top_p=request.top_p,
            seed=request.seed,
            chunk_size=STREAM_CHUNK,
        )
    except ChargenError as exc:
        raise gr.Error(str(exc), print_exception=False) from None
    first = True
    for comparison in views.throttle(stream, STREAM_INTERVAL_S):
        if comparison.done:
            notices = views.prompt_notices(request.prompt, comparison)
            yield (
                comparison.greedy,
                comparison.sampled,
                views.seed_text(comparison),
                views.loop_summary(comparison),
                views.loop_highlight(comparison.greedy, comparison.loop),
                views.probability_html(comparison.sampled, comparison.sampled_probs),
                views.notices_markdown(notices),
            )
        elif first:  # clear the last run's views so they never sit beside new text
            yield comparison.greedy, comparison.sampled, "", "", [], "", ""
        else:
            yield comparison.greedy, comparison.sampled, *[gr.skip()] * 5
        first = False


def show_distribution(prompt: str, temperature: float, model_name: str | None = None) -> Any:
    """The chart of the next character after ``prompt``: at ``temperature`` beside T = 1."""
    try:
        name = views.check_model_name(model_name, MODEL_NAMES)
        temperature = views.check_temperature(temperature)
        rows = views.distribution_rows(MODELS[name], views.check_prompt(prompt), temperature)
    except ChargenError as exc:
        raise gr.Error(str(exc), print_exception=False) from None
    return views.distribution_figure(rows, temperature)


def reuse_seed(seed_used: str) -> str:
    """Copy the seed that made the last sample into the seed box, to make it again."""
    return seed_used


with gr.Blocks(title="chargen: greedy vs. sampled") as demo:
    gr.Markdown(
        "# chargen: greedy vs. sampled\n"
        "A character-level LSTM continues your text one character at a time. **Greedy** always takes "
        "the likeliest next character, so it soon repeats itself; **sampled** draws each character "
        "at the temperature you choose: low is safe and dull, high is lively and then nonsense."
    )
    gr.Markdown(views.notices_markdown(STARTUP_NOTICES), elem_id="startup-notices", visible=bool(STARTUP_NOTICES))
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            model = gr.Dropdown(
                choices=[(views.model_label(name), name) for name in MODEL_NAMES],
                value=MODEL_NAMES[0],
                label="Model",
                visible=len(MODEL_NAMES) > 1,
                elem_id="model",
            )
            prompt = gr.Textbox(
                value=views.DEFAULT_PROMPT,
                label="Prompt",
                lines=3,
                max_lines=12,
                max_length=views.MAX_PROMPT,
                placeholder="Type the start of a text; the model continues it.",
                elem_id="prompt",
            )
            with gr.Row():
                generate_button = gr.Button("Generate", variant="primary", elem_id="generate", scale=3)
                stop_button = gr.Button("Stop", variant="secondary", elem_id="stop", scale=1)
            notices = gr.Markdown(elem_id="notices")
            gr.Examples(
                examples=views.example_prompts(MODEL_NAMES),
                inputs=[prompt, model] if len(MODEL_NAMES) > 1 else [prompt],
                label="Example prompts",
                examples_per_page=6,
            )
        with gr.Column(scale=2):
            temperature = gr.Slider(
                views.MIN_TEMPERATURE,
                views.MAX_TEMPERATURE,
                value=views.DEFAULT_TEMPERATURE,
                step=0.05,
                label="Temperature",
                info="0 = greedy; below 1 sharpens the distribution, above 1 flattens it",
                elem_id="temperature",
            )
            length = gr.Slider(
                views.MIN_LENGTH,
                views.MAX_LENGTH,
                value=views.DEFAULT_LENGTH,
                step=1,
                label="Characters to generate",
                elem_id="length",
            )
            with gr.Accordion("Advanced sampling", open=False, elem_id="advanced"):
                top_k = gr.Slider(0, views.MAX_TOP_K, value=0, step=1, label="Top-k", info="0 = off", elem_id="top_k")
                top_p = gr.Slider(
                    0.05, 1.0, value=1.0, step=0.05, label="Top-p (nucleus)", info="1 = off", elem_id="top_p"
                )
                seed = gr.Textbox(label="Seed", placeholder="blank = random", max_length=20, elem_id="seed")
    with gr.Row(equal_height=False):
        with gr.Column():
            greedy = gr.Textbox(
                label="Greedy: always the likeliest next character",
                lines=10,
                max_lines=20,
                interactive=False,
                buttons=["copy"],
                elem_id="greedy",
            )
            loop_line = gr.Markdown(elem_id="loop_line")
        with gr.Column():
            sampled = gr.Textbox(
                label="Sampled: drawn at the chosen temperature",
                lines=10,
                max_lines=20,
                interactive=False,
                buttons=["copy"],
                elem_id="sampled",
            )
            with gr.Row(equal_height=False):
                seed_used = gr.Textbox(label="Seed used", interactive=False, scale=4, elem_id="seed_used")
                reuse_button = gr.Button("Use this seed", size="md", scale=1, min_width=140, elem_id="reuse_seed")
    gr.Markdown("## What the model is doing")
    chart = gr.Plot(label="Next-character probabilities", elem_id="distribution")
    with gr.Row(equal_height=False):
        loop_view = gr.HighlightedText(
            label="Greedy text, its loop highlighted",
            color_map=views.LOOP_COLORS,
            show_legend=True,
            elem_id="loop_view",
        )
        shading = gr.HTML(
            label="Sampled text, shaded by surprise", show_label=True, container=True, padding=True, elem_id="shading"
        )

    generation = generate_button.click(
        generate,
        inputs=[prompt, temperature, length, top_k, top_p, seed, model],
        outputs=[greedy, sampled, seed_used, loop_line, loop_view, shading, notices],
        api_name="generate",
        concurrency_id="model",
        concurrency_limit=CONCURRENCY,
        show_progress="minimal",
        preprocess=False,  # every input is checked by views.parse_request, page or API alike
    )
    generation.success(
        show_distribution,
        inputs=[prompt, temperature, model],
        outputs=chart,
        concurrency_id="model",
        api_visibility="private",
        show_progress="hidden",
        preprocess=False,
    )
    stop_button.click(None, cancels=[generation])
    temperature.release(
        show_distribution,
        inputs=[prompt, temperature, model],
        outputs=chart,
        api_name="distribution",
        concurrency_id="model",
        show_progress="hidden",
        preprocess=False,
    )
    gr.on(
        [model.change, demo.load],
        show_distribution,
        inputs=[prompt, temperature, model],
        outputs=chart,
        api_visibility="private",
        concurrency_id="model",
        show_progress="hidden",
        preprocess=False,
    )
    reuse_button.click(reuse_seed, inputs=seed_used, outputs=seed, api_visibility="private", queue=False)

demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=CONCURRENCY)


def warm_up() -> None:
    """Pay the one-time costs before the first visitors do. Gradio wraps every event in a matplotlib
    backend switch, so its first event imports matplotlib and pyplot on the server's event loop
    (~1 s in which nothing is served); each model also packs its weights on its first generation."""
    import matplotlib

    matplotlib.get_backend()
    for model in MODELS.values():
        compare(model, "", 1)


if __name__ == "__main__":
    demo.launch(prevent_thread_lock=True)  # answering first: the warm-up doesn't delay the page
    warm_up()
    demo.block_thread()

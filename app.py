"""chargen's web app: greedy and sampled continuations of a prompt, side by side, one character at a time.

``python app.py`` serves it on http://127.0.0.1:7860 (``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT``
change that), from any working directory; it is the Space's entry point. The models come from
``chargen-models.txt`` next to this file (``python -m chargen deploy`` writes one into the Space), else
``CHARGEN_MODELS`` (comma-separated folders or Hub repo ids; the first is the default), else the bundled
ones in ``checkpoints/`` next to this file. The app itself is the ``chargen.app`` package.
"""

try:  # ZeroGPU Spaces: `spaces` must be imported before anything initialises CUDA; elsewhere it is optional
    import spaces  # noqa: F401
except ImportError:
    pass

from pathlib import Path

from chargen.app.demo import main

if __name__ == "__main__":
    main(Path(__file__).resolve().parent)

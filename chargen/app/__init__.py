"""The web app: everything that imports gradio, and what only the page needs."""

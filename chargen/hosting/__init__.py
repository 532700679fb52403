"""Hosting: deploying to Hugging Face Spaces, the Space's model list, ZeroGPU."""

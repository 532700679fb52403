"""Exporting a trained model to formats other runtimes read (ONNX, for a page that generates in the browser)."""

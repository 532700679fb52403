"""Training a model inside the app for one visitor, one module per concern.

- :mod:`~chargen.app.session.checks`: the limits and the checks of a request as it comes from the page or
  the API, giving a :class:`~chargen.app.session.checks.TrainRequest`.
- :mod:`~chargen.app.session.presets`: the model sizes the tab offers and the recipe that trains each.
- :mod:`~chargen.app.session.stream`: a run of :func:`chargen.training.train.train` on a worker thread,
  streamed as plain, picklable update dicts (loss points, samples, the best weights as CPU tensors), so the
  same generator works in this process or in the forked process ZeroGPU's ``@spaces.GPU`` runs it in.
- :mod:`~chargen.app.session.history`: what a run streamed, gathered in the server process.
- :mod:`~chargen.app.session.training_queue`: one training at a time per server; the others learn their place.
- :mod:`~chargen.app.session.zero_gpu`: the ZeroGPU budget (what a run asks for and is charged) and the
  GPU entry point.
- :mod:`~chargen.app.session.store`: each session's models in a temporary folder of its own, never shown to
  another session, zipped for download, loaded back from a zip, pushed to the Hub.
- :mod:`~chargen.app.session.card`: the model card a session model is saved with.
"""

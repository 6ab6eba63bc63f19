"""Training on compiled steps kept on disk (JAX): Keras' own steps without Keras' per-process
tracing or its per-step dispatch.

A warm pair's process fine-tunes a saved network for a few epochs of a few batches: little
arithmetic, while ``model.fit`` pays in every process for building the Keras network and its
optimizer, loading the weights into it, and, for every step function, Keras' trace and JAX's
lowering (which run even when the executable is a hit in JAX's persistent cache, looked up by
the lowered module's hash). Every pair of a market runs the same network at the same shapes;
so here the step functions are compiled once, their executables written to disk, and every
later process loads them and calls them on arrays read straight from the saved
``.weights.h5``: no Keras model is built on that path. A full fit runs its epochs on the same
executables, which scan the batches inside one call where ``fit`` calls one jitted step per
batch from Python. docs/training.md ("Compiled steps") gives the figures.

The modules, one job each:

- ``cache``: the content-hashed store on disk (the key, atomic writes, checksums);
- ``layout``: which dataset of the ``.weights.h5`` holds which variable of the steps;
- ``executables``: Keras' steps scanned, compiled, serialised and loaded;
- ``network``: a saved network's state stepped by them, in place of a Keras model;
- ``compiled``: where the steps apply, and the fit and fine-tune's epoch loop (``applies``,
  ``prepare``, ``load``, ``fit``, ``fine_tune``).
"""

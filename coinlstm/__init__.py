"""coinlstm: an hourly LSTM forecast for every pair of a quote market.

Importing the package caps OpenBLAS (numpy's, and SciPy's, which JAX's CPU linear algebra
calls) at one thread unless the environment already says otherwise. Its worker threads buy
nothing for the small matrices here (an LSTM's orthogonal initialiser, a regression's normal
equations), and a BLAS call made from inside XLA's own thread pool while OpenBLAS runs threads
of its own can spin forever in OpenBLAS's wait for them, holding a core and the process. The
library reads the variable once, when it is loaded, so it is set here: every entry point
(the CLI, ``run_all.py``, the fork server and the pair processes it forks) imports this
package before anything imports numpy.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

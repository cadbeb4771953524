"""CNN Lab's engine: data, configuration, models, training jobs, runs and inference.

Never imports Streamlit; the app's pages and the command line both sit on top of it.
"""

import os

# TensorFlow's C++ start-up chatter is noise for learners; errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.1.0"

"""The application layer: one home for each use case, called by the pages and the CLI.

Use cases take plain arguments (paths, settings, the acting user) and call the
libraries below them (io, signals, imaging, models, fusion, training,
evaluation, storage, security, ...). Nothing below this package imports it;
``rehab_core.jobs``, ``rehab_core.cli`` and the Streamlit pages sit above it.
"""

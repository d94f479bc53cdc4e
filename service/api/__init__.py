"""HTTP routes, one module per resource under `routes/`, gathered in `main.py`."""

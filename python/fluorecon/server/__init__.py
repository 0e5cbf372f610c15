"""The local model server: FastAPI app (app.py), settings and token (settings.py), SQLite job
store (store.py), the worker thread (worker.py) and one router per resource (routes/)."""

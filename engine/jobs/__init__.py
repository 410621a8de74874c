"""jobs: the work the app and the API hand off. One optimize run (pipeline), the plans of tasks
(tasks) and the job kinds (service), the SQLite record (store), where tasks run (dispatch, on
the Dask cluster of cluster), the runner of a web process (runner) and webhooks.

May import: engine.core, engine.data, engine.model, engine.dfs."""

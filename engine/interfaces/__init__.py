"""interfaces: the front ends of the engine. The REST API (api), the `pitwall` command line
(cli, one module per command group) and the charts the app, the CLI and the docs share.

May import: every stage before it. (The Streamlit app, app.py and pages/, sits outside engine.)"""

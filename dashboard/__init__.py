"""The spendscope dashboard: a Streamlit app that reads only the HTTP API.

`spendscope dashboard` serves `dashboard/app.py`; each page is a module of
`dashboard.views`; `dashboard.api.ApiClient` is the one way to data. It imports nothing
from `collector` or `warehouse`.
"""

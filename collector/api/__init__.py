"""The query API under `/api/v1`: routers translate HTTP to warehouse calls and back.

- `v1`: the spans and jobs endpoints and the router every `/api/v1` router shares.
- `routers/`: one module per resource (costs, prices, alerts, detection, gpu, outcomes),
  each a module-level `router` whose handlers are plain functions.
- `deps`: what handlers depend on (`ApiContext` on `app.state.api`, a cursor per request, the
  token checks) and the one mapping of domain errors (`warehouse.core.errors`) to HTTP.
- `errors`: the error answers declared once for the OpenAPI document.
- `timestamps`, `window`: the times and time windows requests accept.
- `docs_assets`: `/docs` and `/redoc` with their assets served from the package (no CDN).
- `price_file_status`: the price file's last load, shown in `/readyz` and `/api/v1/prices`.
"""
